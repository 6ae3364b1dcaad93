#!/usr/bin/env bash
# The benchmark in one command (targets in BENCHMARKS.md): installs what is missing,
# builds the release preset (iotd, iotd-sim, the bench tools) and runs bench/bench.py, which
# starts its own mosquitto (docker/mosquitto.conf), nginx, PostgreSQL (fsync on) and MariaDB on
# loopback, prints a markdown table of medians next to same-run references and stops
# everything it started by PID.
#   bench/run.sh                 full run: 3 runs per figure, about 10 minutes on 2 vCPU
#   bench/run.sh --quick         seconds; what CI runs to keep the benchmark working
#   bench/run.sh --help          the options (runs, sizes, --only ingest,ingest_live,steady,store,http,http_ingest,resources,live,conns,retention,scale)
#   bench/run.sh --only retention  ingest while retention deletes a large backlog vs off (not in the default run)
#   bench/run.sh --only scale      1 iotd vs 2 in one share group on PostgreSQL (docs/scaling.md §2; not in the default run)
# BENCH_NO_BUILD=1 skips the install and build steps.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
if [[ ${BENCH_NO_BUILD:-0} != 1 ]]; then
  bash scripts/install-deps.sh >&2
  cmake --preset release >&2
  cmake --build --preset release --target iotd iotd-sim bench_tools >&2
fi
exec python3 bench/bench.py "$@"
