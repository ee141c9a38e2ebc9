#!/usr/bin/env bash
# Checks the includes of lib/ against the table of layers in
# doc/design.md: each folder of lib/ is a row, in order from the lowest
# layer, naming the folders it may include. A file may include headers
# of its own folder (by bare name) and of the folders its row allows
# (as "folder/file.h"), and a row may allow only itself and rows above
# it: no lower layer includes a higher one.
set -euo pipefail
src=${1:-$(dirname "$0")/..}
cd "$src"

declare -A rank allow
n=0
while IFS='|' read -r _ folder _ may _; do
	name=$(sed -n 's/.*`lib\/\([a-z_]*\)`.*/\1/p' <<<"$folder")
	[ -n "$name" ] || continue
	rank[$name]=$n
	allow[$name]=$(tr ',' ' ' <<<"$may" | tr -d '`')
	n=$((n + 1))
done < <(grep '^| `lib/' doc/design.md)
[ "$n" -gt 0 ] || { echo "layer_check: no table of layers in doc/design.md"; exit 1; }

bad=0
fail() {
	echo "layer_check: $*"
	bad=1
}

for name in "${!rank[@]}"; do
	[ -d "lib/$name" ] || fail "lib/$name is in the table but not in lib/"
	for a in ${allow[$name]}; do
		if [ -z "${rank[$a]+x}" ]; then
			fail "lib/$name may include '$a', which is no layer"
		elif [ "${rank[$a]}" -gt "${rank[$name]}" ]; then
			fail "lib/$name (a lower layer) may include lib/$a (a higher one)"
		fi
	done
done

shopt -s nullglob
for f in lib/*.c lib/*.h; do
	fail "$f: every source lives in a layer's folder"
done
files=0
for dir in lib/*/; do
	name=$(basename "$dir")
	if [ -z "${rank[$name]+x}" ]; then
		fail "lib/$name is not in the table of doc/design.md"
		continue
	fi
	for f in "$dir"*.c "$dir"*.h; do
		files=$((files + 1))
		while read -r inc; do
			case "$inc" in
			*/*)
				to=${inc%%/*}
				if [[ " ${allow[$name]} " != *" $to "* ]]; then
					fail "$f includes $inc: lib/$name may not include lib/$to"
				elif [ ! -f "lib/$inc" ]; then
					fail "$f includes $inc, which does not exist"
				fi
				;;
			*)
				[ -f "$dir$inc" ] ||
					fail "$f includes \"$inc\", not in lib/$name (name the layer: \"layer/$inc\")"
				;;
			esac
		done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f")
	done
done

[ "$bad" -eq 0 ] || exit 1
echo "layer_check: $files files in ${#rank[@]} layers include only what their layer may"
