#!/usr/bin/env bash
# Installs what is missing, builds and runs the test suite; exits non-zero on any failure.
#   scripts/test.sh          release preset: every test (unit, integration, docker-compose
#                            validation), `ctest --preset release`
#   scripts/test.sh --asan   asan preset (optimised ASan/UBSan): unit tests only (the fuzz
#                            corpora's replay tests included), `ctest --preset asan`
#   scripts/test.sh --fuzz-smoke  fuzz preset (clang-14 libFuzzer, ASan/UBSan): builds only
#                            the fuzz targets but http and runs each for IOTD_FUZZ_SECONDS (15)
#                            on its corpus, `ctest --preset fuzz` (longer runs: scripts/fuzz.sh)
#   scripts/test.sh --tsan   tsan preset (ThreadSanitizer): the unit tests of the modules that
#                            run threads (ctest label tsan), `ctest --preset tsan`
# Extra arguments after the mode go to ctest (e.g. -R Journal, -j2).
# IOTD_TEST_NO_INSTALL=1 skips the package check.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

preset=release
target=all
case ${1:-} in
  --asan)
    preset=asan
    target=unit_tests   # the asan stage runs unit tests only: don't build iotd/integration
    shift ;;
  --fuzz-smoke)
    preset=fuzz
    target=fuzz_smoke   # the fuzz targets but http (fuzz/CMakeLists.txt) and what they link
    shift ;;
  --tsan)
    preset=tsan
    target=tsan_tests   # the threaded modules' unit tests (CMakeLists.txt IOTD_TSAN_MODULES)
    shift ;;
esac

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
