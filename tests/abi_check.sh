#!/usr/bin/env bash
# Checks that every exported function documents its errors and threads
# (tests/doc_check.sh), then compares the built library with the
# committed ABI baseline. Additions (abidiff bit 4) are allowed; an
# incompatible change (bit 8) fails.
# After a deliberate addition, regenerate the baseline:
#   abidw --headers-dir include --no-show-locs build/lib/libgmem.so.1 > abi/libgmem.abi
set -u
src=$1 so=$2
"$(dirname "$0")/doc_check.sh" "$src" || exit 1
if ! command -v abidiff >/dev/null; then
	echo "SKIP: abidiff not installed (abigail-tools)"
	exit 77
fi
abidiff --headers-dir2 "$src/include" "$src/abi/libgmem.abi" "$so"
rc=$?
if [ $((rc & 8)) -ne 0 ] || [ $((rc & 3)) -ne 0 ]; then
	echo "ABI check failed (abidiff exit $rc)"
	exit 1
fi
echo "ABI check: compatible with abi/libgmem.abi (abidiff exit $rc)"
