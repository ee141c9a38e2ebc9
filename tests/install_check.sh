#!/usr/bin/env bash
# Installs the build into a scratch prefix and checks what a consumer
# sees: headers as C99 and C++, pkg-config, the exported symbols.
set -euo pipefail
build=$1 src=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cmake --install "$build" --prefix "$work/prefix" >/dev/null
pc=$(dirname "$(find "$work/prefix" -name libgmem.pc)")
export PKG_CONFIG_PATH=$pc
cflags=$(pkg-config --cflags libgmem)
libs=$(pkg-config --libs libgmem)
libdir=$(pkg-config --variable=libdir libgmem)

cc -std=c99 -pedantic -Wall -Wextra -Werror $cflags \
	-c "$src/tests/consumer/c99.c" -o "$work/c99.o"
c++ -std=c++11 -pedantic -Wall -Wextra -Werror $cflags \
	-c "$src/tests/consumer/cxx.cpp" -o "$work/cxx.o"
cc "$src/tests/consumer/tiny.c" $cflags $libs -o "$work/tiny"
LD_LIBRARY_PATH=$libdir "$work/tiny"

# The README's embedding example, as written there, builds and works.
awk '/^```c$/ { on = 1; next } /^```$/ { on = 0 } on' "$src/README.md" \
	> "$work/readme.c"
grep -q '^int setup(' "$work/readme.c"
cc -std=c99 -Wall -Wextra -Werror $cflags "$work/readme.c" \
	"$src/tests/consumer/readme_main.c" $libs -o "$work/readme"
LD_LIBRARY_PATH=$libdir "$work/readme"

# Only gmem_* symbols, at LIBGMEM_1.0 to 1.5; and the SONAME.
so="$libdir/libgmem.so.1"
bad=$(nm -D --defined-only "$so" |
	awk '$2 != "A" && $3 !~ /^gmem_[a-z0-9_]+@@LIBGMEM_1\.[0-5]$/')
if [ -n "$bad" ]; then
	echo "unexpected exported symbols:"; echo "$bad"; exit 1
fi
readelf -d "$so" | grep -q 'SONAME.*\[libgmem\.so\.1\]'
test -f "$libdir/libgmem.a"
echo "install check: headers, pkg-config consumer, symbols, SONAME ok"
