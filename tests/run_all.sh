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

packages=(build-essential cmake ninja-build pkg-config libuv1-dev libsodium-dev libssl-dev libtomlplusplus-dev catch2
          nlohmann-json3-dev clang libclang-rt-14-dev python3 curl openssl ca-certificates iproute2 wget git
          openssh-server openssh-client netcat-openbsd chromium
          dpkg-dev lintian file man-db binutils systemd)  # the package test: cpack, lintian, systemd-analyze
. tests/ensure_packages.sh
ensure_packages "${packages[@]}"

summary=()
run_tree() {  # name, extra cmake args...
  local name=$1; shift
  echo "== build ($name)"
  cmake -S . -B "build/$name" -G Ninja "$@" >/dev/null
  cmake --build "build/$name" -j "$jobs"
  echo "== test ($name)"
  local label_args=()
  [ $quick -eq 1 ] && label_args=(-L unit)
  (cd "build/$name" && ctest --output-on-failure -j "$jobs" "${label_args[@]}" | tee ctest.log)
  summary+=("$name: $(grep -E 'tests passed' "build/$name/ctest.log" || echo 'no summary')")
}

run_tree release -DCMAKE_BUILD_TYPE=Release
if [ $quick -eq 0 ]; then
  run_tree asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFERRY_SANITIZE=ON

  echo "== fuzz (clang, libFuzzer, ${fuzz_seconds}s per target)"
  cmake -S . -B build/fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang \
        -DCMAKE_CXX_COMPILER=clang++ -DFERRY_FUZZ=ON -DFERRY_TESTS=ON >/dev/null
  targets=()
  for f in tests/fuzz/*_fuzz.cpp; do t=$(basename "$f" _fuzz.cpp); targets+=("$t"); done
  cmake --build build/fuzz -j "$jobs" --target "${targets[@]/%/_fuzz}"
  for t in "${targets[@]}"; do
    work=$(mktemp -d)
    cp tests/fuzz/corpus/"$t"/* "$work"/
    echo "-- $t"
    (cd build/fuzz && ./tests/fuzz/"${t}"_fuzz -max_total_time="$fuzz_seconds" -rss_limit_mb=2048 \
        -print_final_stats=1 "$work" 2>&1 | grep -E '^(#[0-9]+.*DONE|stat::number_of_executed_units|==.*ERROR)' || true)
    # libFuzzer exits non-zero and writes crash-* on a finding; either fails the run.
    if ls build/fuzz/crash-* build/fuzz/leak-* build/fuzz/timeout-* >/dev/null 2>&1; then
      echo "fuzz target $t found a failing input:"; ls build/fuzz/crash-* build/fuzz/leak-* build/fuzz/timeout-* 2>/dev/null
      exit 1
    fi
    rm -rf "$work"
    summary+=("fuzz $t: ${fuzz_seconds}s, no failure")
  done
fi

echo
echo "== summary"
printf '  %s\n' "${summary[@]}"
