#!/usr/bin/env bash
# Installs the Debian packages libgmem needs to build, test and benchmark,
# only those missing. Run as root on Debian 12 or later.
set -euo pipefail

packages=(
	gcc g++ make cmake pkg-config
	libjemalloc-dev libnuma-dev check libsubunit-dev
	valgrind abigail-tools python3
	systemtap-sdt-dev libbpf-dev bpftool clang gnuplot-nox man-db groff-base
	libclang-rt-dev cargo rustc bindgen
)

missing=()
for p in "${packages[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
		grep -q "install ok installed"; then
		missing+=("$p")
	fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# The package lists of a fresh machine may be stale or absent.
if ! apt-get install -y --no-install-recommends "${missing[@]}"; then
	apt-get update
	apt-get install -y --no-install-recommends "${missing[@]}"
fi
