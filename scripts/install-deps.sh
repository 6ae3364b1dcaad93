#!/usr/bin/env bash
# Installs the Debian 12 packages iotd needs to build, run and test.
# Idempotent: installs only what is missing, runs `apt-get update` once when it has to.
# Usage: scripts/install-deps.sh [--check]   (--check: list what is missing, exit 1 if any)
set -euo pipefail

packages=(
  # toolchain
  cmake ninja-build g++ pkg-config ccache
  # fuzzing (fuzz/, the fuzz preset): clang 14 and its libFuzzer/sanitizer runtimes
  clang-14 libclang-rt-14-dev
  # libraries
  libboost-dev libboost-system-dev
  libpaho-mqttpp-dev libpaho-mqtt-dev libsoci-dev nlohmann-json3-dev
  libspdlog-dev libfmt-dev libssl-dev libxxhash-dev uuid-dev libexpected-dev
  libsqlite3-dev libpq-dev libmariadb-dev
  libgtest-dev libgmock-dev
  # services the run script and the tests start themselves
  mosquitto mosquitto-clients postgresql mariadb-server
  # the ingest benchmark's reference publisher and subscriber (bench/mosq_*.c)
  libmosquitto-dev
  # tools (iproute2: `ss -K` cuts iotd's broker connection in a no-loss test)
  sqlite3 docker-compose curl iproute2
  # the benchmark (bench/run.sh): load generator and the nginx reference
  python3 wrk nginx-light
  # GET /metrics is tested against a real Prometheus (and promtool)
  prometheus
  # tools/openapi (npm ci): the Redoc bundle compiled in for /docs, the OpenAPI linter
  nodejs
  # the dashboard's browser test (ctest Dashboard.Browser, playwright-core from web/)
  chromium
)
# npm comes with nodejs from some sources and as its own Debian package otherwise.
command -v npm >/dev/null 2>&1 || packages+=(npm)

# The npm tools, as locked in tools/openapi/package-lock.json and web/package-lock.json (the
# dashboard's uPlot and playwright-core); again when a lock changed.
npm_tools() {
  local root dir
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  for dir in "$root/tools/openapi" "$root/web"; do
    if [[ ! -f $dir/node_modules/.package-lock.json || $dir/package-lock.json -nt $dir/node_modules/.package-lock.json ]]; then
      echo "install-deps: npm ci in ${dir#"$root"/}"
      (cd "$dir" && npm ci --no-audit --no-fund)
    fi
  done
}

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ $status == "install ok installed" ]] || missing+=("$p")
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps: all ${#packages[@]} packages already installed"
  [[ ${1:-} == --check ]] || npm_tools
  exit 0
fi
if [[ ${1:-} == --check ]]; then
  echo "install-deps: missing: ${missing[*]}"
  exit 1
fi

if [[ $(id -u) -eq 0 ]]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1; then
  as_root=(sudo)
else
  echo "install-deps: missing packages (${missing[*]}) and not root, no sudo: install them as root" >&2
  exit 1
fi

echo "install-deps: installing ${#missing[@]} package(s): ${missing[*]}"
start=$SECONDS
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -q
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -q --no-install-recommends "${missing[@]}"
npm_tools
echo "install-deps: done in $((SECONDS - start)) s"
