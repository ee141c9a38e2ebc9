#!/usr/bin/env bash
# Every exported function's header comment states its errors ("Errors:")
# and its thread safety ("Threads:"), in the words defined in
# include/gmem/common.h. Fails naming each symbol that lacks either.
set -u
src=$1
syms=$(sed -n 's/^[[:space:]]*\(gmem_[a-z0-9_]*\);.*/\1/p' "$src/lib/libgmem.map" | sort -u)
[ -n "$syms" ] || { echo "no symbols read from libgmem.map"; exit 1; }
# For each declaration "GMEM_API ... gmem_x(", print the symbol and the
# comment just above it (blank lines and other declarations end one).
awk '
	/^\/\*/ { c = ""; inc = 1 }
	inc { c = c $0 "\n"; if ($0 ~ /\*\//) { inc = 0; keep = 1 }; next }
	/^GMEM_API/ {
		decl = $0
		while (decl !~ /\(/ && (getline line) > 0) decl = decl line
		if (match(decl, /gmem_[a-z0-9_]+[[:space:]]*\(/)) {
			name = substr(decl, RSTART, RLENGTH)
			sub(/[[:space:]]*\($/, "", name)
			gsub(/\n/, " ", c)
			printf "%s\t%s\n", name, keep ? c : ""
		}
		c = ""; keep = 0; next
	}
	/^[[:space:]]*$/ { next }
	{ c = ""; keep = 0 }
' "$src"/include/gmem/*.h > "${TMPDIR:-/tmp}/gmem_doc.$$"
bad=0
for s in $syms; do
	line=$(grep -P "^$s\t" "${TMPDIR:-/tmp}/gmem_doc.$$" | head -1)
	if [ -z "$line" ]; then echo "$s: no declaration in include/gmem"; bad=1; continue; fi
	case $line in *"Errors:"*) ;; *) echo "$s: comment lacks \"Errors:\""; bad=1;; esac
	case $line in *"Threads:"*) ;; *) echo "$s: comment lacks \"Threads:\""; bad=1;; esac
done
rm -f "${TMPDIR:-/tmp}/gmem_doc.$$"
[ $bad -eq 0 ] && echo "doc check: $(echo "$syms" | wc -l) exported functions state errors and threads"
exit $bad
