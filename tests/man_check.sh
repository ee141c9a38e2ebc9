#!/usr/bin/env bash
# Every exported function has its man page, and every page renders
# without a warning, with the sections a C programmer looks for.
#   man_check.sh SOURCE_DIR MAN_DIR
set -euo pipefail
src=$1 man=$2
bad=0
syms=$(sed -n 's/^[[:space:]]*\(gmem_[a-z0-9_]*\);.*/\1/p' "$src/lib/libgmem.map" | sort -u)
[ -n "$syms" ] || { echo "man_check: no symbols in libgmem.map"; exit 1; }
for s in $syms; do
	page="$man/man3/$s.3"
	if [ ! -f "$page" ]; then
		echo "man_check: $s has no page"
		bad=1
		continue
	fi
	# One rendering: its warnings (-ww) and its text.
	text=$(groff -man -Tascii -ww -P-cbu "$page" 2>&1)
	for section in NAME SYNOPSIS DESCRIPTION "RETURN VALUE" ERRORS "SEE ALSO"; do
		grep -q "^$section" <<<"$text" || { echo "man_check: $s: no $section"; bad=1; }
	done
	grep -q "$s(" <<<"$text" || { echo "man_check: $s: no prototype"; bad=1; }
	warn=$(grep '^troff' <<<"$text" || true)
	[ -z "$warn" ] || { echo "man_check: $s: $warn"; bad=1; }
done
warn=$(groff -man -Tutf8 -ww -z "$man/man7/libgmem.7" 2>&1)
[ -z "$warn" ] || { echo "man_check: libgmem.7: $warn"; bad=1; }
extra=$(comm -13 <(echo "$syms") <(ls "$man/man3" | sed 's/\.3$//' | sort))
[ -z "$extra" ] || { echo "man_check: pages of no exported function: $extra"; bad=1; }
[ $bad = 0 ] && echo "man_check: $(wc -w <<<"$syms") functions, each with its page; libgmem(7)"
exit $bad
