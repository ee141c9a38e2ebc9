#!/usr/bin/env bash
# Builds the library, the tools and every suite again with
# AddressSanitizer and UndefinedBehaviorSanitizer, stopping at the first
# report (-fno-sanitize-recover), in a tree of its own, and runs the
# suites there, sized as under valgrind: an out-of-bounds access, a use
# after free, a leak (LeakSanitizer), or undefined behaviour (a NULL
# passed to memcpy, NULL + 0, an overflow, a misaligned load) fails.
set -euo pipefail
src=$1 out=$2
flags="-fsanitize=address,undefined -fno-sanitize-recover=all"
cmake -S "$src" -B "$out" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	-DGMEM_BUILD_BENCH=OFF -DCMAKE_C_FLAGS="$flags" \
	-DCMAKE_EXE_LINKER_FLAGS="$flags" -DCMAKE_SHARED_LINKER_FLAGS="$flags" \
	>/dev/null
cmake --build "$out" -j"$(nproc)" >/dev/null
export UBSAN_OPTIONS=print_stacktrace=1
# A test that reads private memory expects to die of the SIGSEGV.
export ASAN_OPTIONS=handle_segv=0:detect_leaks=1
export GMEM_DIFF_OPS=40000 GMEM_STRESS_OPS=4000 GMEM_VIEW_ROUNDS=1
export GMEM_BUILD_OPS=200 GMEM_LOG_OPS=300 GMEM_NOTIFY_OPS=3000
export GMEM_IOMMU_OPS=1500 GMEM_PIN_OPS=3000 GMEM_PAGE_OPS=600
export GMEM_PAGE_STRESS_OPS=800 GMEM_BACKEND_OPS=150 GMEM_BACKEND_MIB=16
export GMEM_HUGE_OPS=300
# The suites and demos only: the checks of the tree (memcheck, install,
# ABI, layers) have nothing to add here.
ctest --test-dir "$out" --output-on-failure -j"$(nproc)" \
	-E 'memcheck|install|abi|layer|kvm|man_check|probes|rust'
