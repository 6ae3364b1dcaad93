#!/usr/bin/env bash
# Installs what is missing, builds and runs the test suite; exits non-zero on any failure.
#   scripts/test.sh          release preset: every test (unit, integration, docker-compose
#                            validation), `ctest --preset release`
#   scripts/test.sh --asan   asan preset (optimised ASan/UBSan): unit tests only,
#                            `ctest --preset asan`
# Extra arguments after the mode go to ctest (e.g. -R Journal, -j2).
# IOTD_TEST_NO_INSTALL=1 skips the package check.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

preset=release
target=all
if [[ ${1:-} == --asan ]]; then
  preset=asan
  target=unit_tests   # the asan stage runs unit tests only: don't build iotd/integration
  shift
fi

t0=$SECONDS
stage_start=$SECONDS
stage() {
  stage_start=$SECONDS
  printf '\n===== [%s] %s =====\n' "$preset" "$*"
}
stage_done() {
  printf '===== [%s] %s: done in %d s (total %d s) =====\n' \
    "$preset" "$1" $((SECONDS - stage_start)) $((SECONDS - t0))
}

if [[ ${IOTD_TEST_NO_INSTALL:-0} != 1 ]]; then
  stage "install dependencies"
  bash scripts/install-deps.sh
  stage_done "install"
fi

stage "configure (cmake --preset $preset)"
cmake --preset "$preset"
stage_done "configure"

stage "build (cmake --build --preset $preset --target $target)"
cmake --build --preset "$preset" --target "$target"
stage_done "build"

stage "test (ctest --preset $preset)"
# ctest's own summary ("N% tests passed, M tests failed out of K") closes the output.
exec ctest --preset "$preset" "$@"
