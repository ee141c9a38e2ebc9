#!/usr/bin/env bash
# The library's USDT probes are those doc/probes.md lists, no more, no
# fewer, each with the number of arguments the table gives.
#   probes_check.sh SRC LIBGMEM_SO
set -euo pipefail
src=$1 so=$2

doc=$(grep -E '^\| `[a-z_]+` \|' "$src/doc/probes.md" |
	awk -F'|' '{ gsub(/[` ]/, "", $2); gsub(/ /, "", $3)
		     print $2, ($3 == "" ? 0 : split($3, a, ",")) }' | sort -u)
# readelf -n: "Provider: gmem", "Name: x", then "Arguments: -8@%rdi ..."
# unless it has none.
lib=$(readelf -n "$so" | awk '
	function out() { if (p == "gmem") print name, n }
	/Provider:/ { out(); p = $2; n = 0 }
	/Name:/ { name = $2 }
	/Arguments:/ { n = NF - 1 }
	END { out() }' | sort -u)
[ -n "$lib" ] || { echo "probes_check: no gmem probes in $so"; exit 1; }
if [ "$doc" != "$lib" ]; then
	echo "probes_check: doc/probes.md and $so differ (name, arguments):"
	diff <(echo "$doc") <(echo "$lib") || true
	exit 1
fi
echo "probes_check: $(wc -l <<<"$lib") probes, as documented"
