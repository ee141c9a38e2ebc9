#!/usr/bin/env bash
# The libFuzzer lane: fuzz_diff (the differential driver of diff.c, its
# choices taken from the input) built by clang with the library and the
# model instrumented for coverage, ASan and UBSan, in a tree of its own,
# run for a fixed number of inputs grown from the seed corpus in
# tests/fuzz_corpus. A mismatch with the model, a sanitizer report or a
# leak fails; the executions per second are printed.
#   fuzz_check.sh SOURCE_DIR OUT_DIR RUNS
set -euo pipefail
src=$1 out=$2 runs=$3
command -v clang >/dev/null || { echo "SKIP: fuzz: no clang"; exit 77; }
CC=clang cmake -S "$src" -B "$out" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	-DGMEM_FUZZ=ON -DGMEM_BUILD_BENCH=OFF >/dev/null
cmake --build "$out" -j"$(nproc)" --target fuzz_diff >/dev/null
corpus=$(mktemp -d)
trap 'rm -rf "$corpus"' EXIT
cp "$src"/tests/fuzz_corpus/* "$corpus"/
export ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1
"$out/tests/fuzz_diff" -runs="$runs" -seed=1 -print_final_stats=1 \
	-max_len=512 "$corpus" >"$out/fuzz.log" 2>&1 ||
	{ tail -40 "$out/fuzz.log"; exit 1; }
grep -E '^(stat::number_of_executed_units|stat::average_exec_per_sec|stat::new_units_added)' \
	"$out/fuzz.log"
echo "fuzz: $runs inputs from $(ls "$src/tests/fuzz_corpus" | wc -l) seeds, corpus now $(ls "$corpus" | wc -l)"
