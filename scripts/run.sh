#!/usr/bin/env bash
# Quick start: install what is missing, build the release preset, start a local mosquitto
# (from docker/mosquitto.conf) unless something already listens on the broker port, then
# run build/release/iotd with its embedded defaults (SQLite under ./data), forwarding any
# arguments. Ctrl-C / SIGTERM go to iotd; when it exits, the mosquitto started here is
# stopped (by PID) and the script exits with iotd's status.
#
# Environment: IOTD_MQTT_URL (default tcp://127.0.0.1:1883) picks the broker port; a broker
# is started only for a loopback URL; an empty IOTD_MQTT_URL disables MQTT (no broker).
# IOTD_RUN_NO_INSTALL=1 skips the package check, IOTD_RUN_NO_BUILD=1 skips the build.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

log() { printf 'run.sh: %s\n' "$*" >&2; }

if [[ ${IOTD_RUN_NO_INSTALL:-0} != 1 ]]; then
  bash scripts/install-deps.sh
fi
if [[ ${IOTD_RUN_NO_BUILD:-0} != 1 ]]; then
  log "building the release preset (build/release)"
  cmake --preset release >/dev/null
  cmake --build --preset release --target iotd
fi
iotd_bin=$root/build/release/iotd
[[ -x $iotd_bin ]] || { log "missing $iotd_bin"; exit 1; }

# ---- broker -------------------------------------------------------------------------
mqtt_url=${IOTD_MQTT_URL-tcp://127.0.0.1:1883}
broker_host='' broker_port=''
if [[ $mqtt_url =~ ^(tcp|mqtt)://([^:/]+)(:([0-9]+))?/?$ ]]; then
  broker_host=${BASH_REMATCH[2]}
  broker_port=${BASH_REMATCH[4]:-1883}
fi

tcp_open() {  # host port -> 0 when something accepts a TCP connection
  (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

mosq_pid=''
mosq_dir=$root/data/mosquitto
case $broker_host in
  127.0.0.1|localhost)
    if tcp_open 127.0.0.1 "$broker_port"; then
      log "a broker already listens on 127.0.0.1:$broker_port; using it"
    else
      command -v mosquitto >/dev/null || { log "mosquitto not installed"; exit 1; }
      mkdir -p "$mosq_dir"
      # Same rewrite as tests/support/services.cpp: loopback listener, local persistence.
      sed -e "s|^listener[[:space:]].*|listener $broker_port 127.0.0.1|" \
          -e "s|^persistence_location[[:space:]].*|persistence_location $mosq_dir/|" \
          docker/mosquitto.conf > "$mosq_dir/mosquitto.conf"
      # As root, mosquitto would drop to user `mosquitto`, which cannot write $mosq_dir.
      [[ $(id -u) -eq 0 ]] && echo 'user root' >> "$mosq_dir/mosquitto.conf"
      # set -m: background jobs get their own process group, so a terminal Ctrl-C reaches
      # only this script, which forwards it to iotd and then stops mosquitto itself.
      set -m
      mosquitto -c "$mosq_dir/mosquitto.conf" >> "$mosq_dir/mosquitto.log" 2>&1 &
      mosq_pid=$!
      deadline=$((SECONDS + 10))
      until tcp_open 127.0.0.1 "$broker_port"; do
        if ! kill -0 "$mosq_pid" 2>/dev/null; then
          log "mosquitto exited at start; last lines of $mosq_dir/mosquitto.log:"
          tail -n 20 "$mosq_dir/mosquitto.log" >&2
          exit 1
        fi
        if ((SECONDS >= deadline)); then
          log "mosquitto did not listen on 127.0.0.1:$broker_port within 10 s"
          kill "$mosq_pid" 2>/dev/null || true
          exit 1
        fi
        sleep 0.05
      done
      log "started mosquitto (pid $mosq_pid) on 127.0.0.1:$broker_port, log $mosq_dir/mosquitto.log"
    fi
    ;;
  '') [[ -n $mqtt_url ]] && log "IOTD_MQTT_URL=$mqtt_url: not a plain tcp:// URL, starting no broker" ;;
  *)  log "broker $broker_host:$broker_port is remote; starting no broker" ;;
esac

stop_broker() {
  if [[ -n $mosq_pid ]] && kill -0 "$mosq_pid" 2>/dev/null; then
    log "stopping mosquitto (pid $mosq_pid)"
    kill -TERM "$mosq_pid" 2>/dev/null || true
    wait "$mosq_pid" 2>/dev/null || true
  fi
  mosq_pid=''
}
trap stop_broker EXIT

# ---- iotd ---------------------------------------------------------------------------
# Run iotd as a child (not exec) so that the broker can be stopped after it exits.
set -m
"$iotd_bin" "$@" &
iotd_pid=$!
forward() { got_signal=1; kill -"$1" "$iotd_pid" 2>/dev/null || true; }
trap 'forward INT' INT
trap 'forward TERM' TERM
trap 'forward HUP' HUP
# `wait` also returns (>128) when a trapped signal interrupts it: wait again until the
# status is iotd's own. 127 = already collected, keep the status we have.
status=0
while :; do
  got_signal=0
  rc=0
  wait "$iotd_pid" || rc=$?
  ((rc == 127)) && break
  status=$rc
  ((got_signal)) || break
done
trap - INT TERM HUP
log "iotd exited with status $status"
exit "$status"
