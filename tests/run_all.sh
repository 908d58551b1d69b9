#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine: installs what is missing, builds a Release
# and an ASan+UBSan tree, runs every ctest in both, then runs each libFuzzer target for a bounded time.
#
#   ./tests/run_all.sh            everything (what CI runs)
#   ./tests/run_all.sh --quick    Release build, ctest label "unit" only (a developer's loop)
#
# Environment: FERRY_FUZZ_SECONDS (default 20 per target), FERRY_JOBS (default: nproc).
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
[ "${1:-}" = "--quick" ] && quick=1
jobs="${FERRY_JOBS:-$(nproc)}"
fuzz_seconds="${FERRY_FUZZ_SECONDS:-20}"

. tests/ensure_packages.sh
ensure_packages "${FERRY_TEST_PACKAGES[@]}"

summary=()
run_tree() {  # a preset of CMakePresets.json: release or asan
  local name=$1
  echo "== build ($name)"
  cmake --preset "$name" >/dev/null
  cmake --build --preset "$name" -j "$jobs"
  echo "== test ($name)"
  local preset=$name
  [ $quick -eq 1 ] && preset=unit
  ctest --preset "$preset" -j "$jobs" | tee "build/$name/ctest.log"
  summary+=("$name: $(grep -E 'tests passed' "build/$name/ctest.log" || echo 'no summary')")
}

# One libFuzzer target for a bounded time on a copy of its seed corpus; its findings go to $2.
fuzz_one() {  # target, artifacts dir
  local t=$1 found=$2 work
  work=$(mktemp -d)
  cp tests/fuzz/corpus/"$t"/* "$work"/
  ./build/fuzz/tests/fuzz/"${t}"_fuzz -max_total_time="$fuzz_seconds" -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$found/" "$work" >"$found/log" 2>&1 || true
  rm -rf "$work"
}

run_tree release
if [ $quick -eq 0 ]; then
  run_tree asan

  echo "== fuzz (clang, libFuzzer, ${fuzz_seconds}s per target, $jobs at a time)"
  cmake --preset fuzz >/dev/null
  targets=()
  for f in tests/fuzz/*_fuzz.cpp; do t=$(basename "$f" _fuzz.cpp); targets+=("$t"); done
  cmake --build --preset fuzz -j "$jobs" --target "${targets[@]/%/_fuzz}"
  findings=$(mktemp -d)
  for t in "${targets[@]}"; do
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
    mkdir -p "$findings/$t"
    fuzz_one "$t" "$findings/$t" &
  done
  wait
  failed=0
  for t in "${targets[@]}"; do
    echo "-- $t"
    grep -E '^(#[0-9]+.*DONE|stat::number_of_executed_units|==.*ERROR)' "$findings/$t/log" || true
    # libFuzzer writes crash-*, leak-* or timeout-* on a finding; any fails the run.
    if ls "$findings/$t"/crash-* "$findings/$t"/leak-* "$findings/$t"/timeout-* >/dev/null 2>&1; then
      echo "fuzz target $t found a failing input:"; ls "$findings/$t"/crash-* "$findings/$t"/leak-* \
          "$findings/$t"/timeout-* 2>/dev/null
      mkdir -p build/fuzz/findings && cp -r "$findings/$t" build/fuzz/findings/
      failed=1
    else
      summary+=("fuzz $t: ${fuzz_seconds}s, no failure")
    fi
  done
  rm -rf "$findings"
  [ $failed -eq 0 ] || exit 1
fi

echo
echo "== summary"
printf '  %s\n' "${summary[@]}"
