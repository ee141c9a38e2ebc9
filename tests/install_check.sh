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
readelf -d "$so" | grep -c 'SONAME.*\[libgmem\.so\.1\]' >/dev/null
echo "install check: headers, pkg-config consumer, symbols, SONAME ok"

# The man pages are installed where man finds them.
MANPATH="$work/prefix/share/man" man -w gmem_convert >/dev/null
MANPATH="$work/prefix/share/man" man -w 7 libgmem >/dev/null

# Installed programs find the library without LD_LIBRARY_PATH.
env -u LD_LIBRARY_PATH "$work/prefix/bin/gmem-pt" >/dev/null
echo "install check: installed tools run as installed"

# The static archive: plain objects (no LTO), only gmem_* names global,
# linked by gcc, gcc -fno-lto and clang into programs that run without
# libgmem.so.
a="$libdir/libgmem.a"
bad=$(nm -g --defined-only "$a" | awk 'NF == 3 && $3 !~ /^gmem_/')
[ -z "$bad" ] || { echo "libgmem.a exports internal names:"; echo "$bad"; exit 1; }
if objdump -h "$a" | grep -c '\.gnu\.lto_' >/dev/null; then
	echo "libgmem.a holds LTO objects"; exit 1
fi
static_libs=$(pkg-config --static --libs libgmem | sed 's/-lgmem//; s/-L[^ ]*//')
for cc in "gcc" "gcc -fno-lto" "clang"; do
	command -v ${cc%% *} >/dev/null || continue
	$cc $cflags "$src/tests/consumer/tiny.c" "$a" $static_libs \
		-o "$work/tiny_static"
	if ldd "$work/tiny_static" | grep -c libgmem >/dev/null; then
		echo "$cc: the static consumer needs libgmem.so"; exit 1
	fi
	"$work/tiny_static" >/dev/null
done
echo "install check: libgmem.a: $(nm -g --defined-only "$a" | grep -c ' T gmem_') functions, no other name; gcc, gcc -fno-lto, clang link it"

# The CMake package: libgmem::libgmem (shared), libgmem::static; a
# version of another major is refused.
cmake -S "$src/tests/consumer/cmake" -B "$work/cm" \
	-DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/cm" >/dev/null
"$work/cm/tiny_shared" >/dev/null
ldd "$work/cm/tiny_shared" | grep -c "$work/prefix/.*libgmem.so.1" >/dev/null
"$work/cm/tiny_static" >/dev/null
! ldd "$work/cm/tiny_static" | grep -c libgmem >/dev/null
mkdir -p "$work/v2"
printf 'cmake_minimum_required(VERSION 3.20)\nproject(v2 C)\nfind_package(libgmem 2.0 REQUIRED)\n' \
	>"$work/v2/CMakeLists.txt"
if cmake -S "$work/v2" -B "$work/v2/b" -DCMAKE_PREFIX_PATH="$work/prefix" \
	>/dev/null 2>&1; then
	echo "find_package(libgmem 2.0) accepted version 1"; exit 1
fi
echo "install check: CMake package, shared and static, version checked"
