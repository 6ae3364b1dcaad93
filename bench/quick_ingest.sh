#!/usr/bin/env bash
# Quick ingest measurement (not yet the full benchmark of bench/): N QoS 1 messages from 4
# mosquitto_pub publishers through a local mosquitto (docker/mosquitto.conf) into iotd on
# SQLite, counted in the database. Prints one line per run and the median of RUNS runs.
#   live    iotd connected while the publishers send: first publish -> last row committed
#   backlog the messages are queued at the broker for iotd's persistent session while it
#           is down; iotd start -> last row committed (the drain rate after an outage)
# Usage: bench/quick_ingest.sh [live|backlog] ; env N (50000), RUNS (3), BIN (build/release/iotd)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
mode=${1:-live}
N=${N:-50000}; RUNS=${RUNS:-3}; BIN=${BIN:-$root/build/release/iotd}
[[ $mode == live || $mode == backlog ]] || { echo "usage: $0 [live|backlog]" >&2; exit 2; }
[[ -x $BIN ]] || { echo "build first: cmake --workflow --preset release (missing $BIN)" >&2; exit 1; }
command -v mosquitto_pub >/dev/null && command -v sqlite3 >/dev/null || { echo "needs mosquitto-clients and sqlite3" >&2; exit 1; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo $((20000 + RANDOM % 20000)); }

one_run() {
  local d mport hport mpid ipid t0 t1 t2 t3 p
  d=$(mktemp -d); mport=$(free_port); hport=$(free_port)
  sed -e "s|^listener .*|listener $mport 127.0.0.1|" -e "s|^persistence_location .*|persistence_location $d/|" \
    "$root/docker/mosquitto.conf" > "$d/m.conf"
  [[ $(id -u) -eq 0 ]] && echo "user root" >> "$d/m.conf"
  mosquitto -c "$d/m.conf" > "$d/mosq.log" 2>&1 & mpid=$!
  until (exec 3<>"/dev/tcp/127.0.0.1/$mport") 2>/dev/null; do sleep 0.02; done
  export IOTD_HTTP_LISTEN=127.0.0.1:$hport IOTD_MQTT_URL=tcp://127.0.0.1:$mport \
    IOTD_DATABASE_URL=sqlite:///$d/r.db IOTD_JOURNAL_DIR=$d/j IOTD_MQTT_CLIENT_ID=iotd-bench IOTD_LOG_LEVEL=warn
  "$BIN" > "$d/iotd.log" 2>&1 & ipid=$!
  until curl -fs "http://127.0.0.1:$hport/api/v1/health" | grep -q '"connected":true'; do sleep 0.05; done
  if [[ $mode == backlog ]]; then kill -TERM $ipid; wait $ipid || true; fi
  for p in 0 1 2 3; do
    seq $((p * N / 4)) $(((p + 1) * N / 4 - 1)) | awk '{printf "{\"n\":%d,\"temperature\":%.2f,\"humidity\":%d,\"timestamp\":%d}\n", $1, 20+($1%100)/10, 40+$1%20, 1767225600+$1}' > "$d/in$p.txt"
  done
  local pubs=()
  t0=$(date +%s.%N)
  for p in 0 1 2 3; do mosquitto_pub -p "$mport" -q 1 -i "bench-pub$p" -t "sensors/dev$p/data" -l < "$d/in$p.txt" & pubs+=($!); done
  wait "${pubs[@]}"
  t1=$(date +%s.%N); t2=$t0
  if [[ $mode == backlog ]]; then "$BIN" > "$d/iotd2.log" 2>&1 & ipid=$!; t2=$(date +%s.%N); fi
  until [[ $(sqlite3 "$d/r.db" 'select count(*) from messages' 2>/dev/null || echo 0) -ge $N ]]; do sleep 0.02; done
  t3=$(date +%s.%N)
  kill -TERM $ipid; wait $ipid || true; kill $mpid; wait $mpid 2>/dev/null || true; rm -rf "$d"
  awk -v n="$N" -v a="$t0" -v b="$t1" -v c="$t2" -v e="$t3" 'BEGIN{printf "%.0f %.0f\n", n/(b-a), n/(e-c)}'
}

rates=()
for ((i = 1; i <= RUNS; i++)); do
  read -r pub ingest < <(one_run)
  printf 'run %d (%s, N=%d): publishers %6d msg/s, iotd committed %6d msg/s\n' "$i" "$mode" "$N" "$pub" "$ingest"
  rates+=("$ingest")
done
printf 'median iotd %s rate: %s msg/s (QoS 1, SQLite, %d runs)\n' "$mode" \
  "$(printf '%s\n' "${rates[@]}" | sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}')" "$RUNS"
