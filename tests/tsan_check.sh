#!/usr/bin/env bash
# Builds the library and the stress tests again with ThreadSanitizer, in a
# tree of their own, and runs them (conversions, then paging): any data
# race fails.
# The metadata goes to the malloc heap (GMEM_STRESS_MALLOC), whose
# ordering of reused memory the sanitizer sees; jemalloc itself, built
# without it, is left out of the reports.
set -euo pipefail
src=$1 out=$2
flags=-fsanitize=thread
cmake -S "$src" -B "$out" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	-DGMEM_BUILD_BENCH=OFF -DGMEM_WERROR=OFF \
	-DCMAKE_C_FLAGS="$flags -Wno-tsan" \
	-DCMAKE_EXE_LINKER_FLAGS=$flags -DCMAKE_SHARED_LINKER_FLAGS=$flags \
	>/dev/null
cmake --build "$out" -j"$(nproc)" --target test_stress test_page_stress \
	>/dev/null
export TSAN_OPTIONS="halt_on_error=1 exitcode=66 suppressions=$src/tests/tsan.supp"
GMEM_STRESS_MALLOC=1 GMEM_STRESS_OPS=${GMEM_STRESS_OPS:-40000} \
	CK_FORK=no "$out/tests/test_stress"
GMEM_PAGE_STRESS_OPS=${GMEM_PAGE_STRESS_OPS:-3000} CK_FORK=no \
	"$out/tests/test_page_stress"
