#!/usr/bin/env bash
# Installs what is missing, builds, and runs the main job: gmem-bench on
# its built-in defaults (extra arguments go to it), the instructions per
# dirty frame of a harvest (tools/harvest-insns), the page-table demo
# gmem-pt, the KVM guest gmem-kvm where /dev/kvm is present, then the
# replay of the trace corpus (bench/traces) and a plot of both runs.
# The exit status is gmem-bench's, 1 if a target was missed (pass
# --no-fail to ignore that), or gmem-kvm's if its guest saw a mismatch.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j"$(nproc)"
status=0
build/bench/gmem-bench --csv build/bench.csv "$@" || status=$?
echo
tools/harvest-insns build
echo
build/tools/gmem-pt
echo
# gmem-kvm (x86-64 only) prints SKIP and exits 77 where KVM offers none
# of its runs.
if [ -x build/tools/gmem-kvm ]; then
	build/tools/gmem-kvm || { rc=$?; [ "$rc" -eq 77 ] || status=$rc; }
fi
echo
traces=()
for t in bench/traces/*.trace; do
	traces+=(--trace "$t")
done
build/bench/gmem-bench --sections traces --no-fail --csv build/traces.csv \
	"${traces[@]}"
echo
tools/plot-bench -o build/gmem-bench.png build/bench.csv build/traces.csv
exit $status
