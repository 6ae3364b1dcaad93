#!/usr/bin/env bash
# Runs the libFuzzer targets (fuzz/, the `fuzz` preset: clang-14 with ASan/UBSan) one at a
# time, each on a working copy of its corpus (build/fuzz/fuzz/corpus/<target>, seeded from
# fuzz/corpus/<target>), and prints one summary line per target: executions, coverage
# (cov/ft from libFuzzer's last status line), corpus size and crashes.
#   scripts/fuzz.sh                    every target, 300 s each
#   scripts/fuzz.sh -t 600 decoder     one target for 600 s
# A crash, leak or failed check leaves its input in build/fuzz/fuzz/artifacts/<target>-*:
# fix the code, add the input to fuzz/corpus/<target>/ (the replay test then keeps it) and a
# unit test. One process at a time (no -jobs/-workers): the machine may be shared.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

seconds=300
targets=()
while [[ $# -gt 0 ]]; do
  case $1 in
    -t) seconds=$2; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) targets+=("$1"); shift ;;
  esac
done
[[ ${#targets[@]} -gt 0 ]] || targets=(decoder time params topic journal http)

cmake --preset fuzz >/dev/null
cmake --build --preset fuzz --target "${targets[@]/#/fuzz_}"

bin=build/fuzz/fuzz
logs=$bin/logs
mkdir -p "$logs" "$bin/artifacts"
summary=()
status=0
for t in "${targets[@]}"; do
  work=$bin/corpus/$t
  mkdir -p "$work"
  args=(-max_total_time="$seconds" -print_final_stats=1 -artifact_prefix="$bin/artifacts/$t-")
  [[ -f fuzz/dict/$t.dict ]] && args+=(-dict="fuzz/dict/$t.dict")
  echo "fuzz: $t for $seconds s (log: $logs/$t.log)"
  rc=0
  "$bin/fuzz_$t" "${args[@]}" "$work" "fuzz/corpus/$t" >"$logs/$t.log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$logs/$t.log" | tail -1)
  last=$(grep -E '^#[0-9]+' "$logs/$t.log" | tail -1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  crashes=$(find "$bin/artifacts" -name "$t-*" | wc -l)
  summary+=("$(printf '%-8s %6s s  execs %-10s cov %-6s ft %-7s corpus %-6s crashes/leaks %s  rc %s' \
    "$t" "$seconds" "${execs:-?}" "${cov:-?}" "${ft:-?}" "$(find "$work" -type f | wc -l)" "$crashes" "$rc")")
  [[ $rc -eq 0 ]] || status=1
done
printf '\nfuzz summary (%s)\n' "$(date -u +%FT%TZ)"
printf '%s\n' "${summary[@]}"
exit $status
