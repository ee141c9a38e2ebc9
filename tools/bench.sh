#!/usr/bin/env bash
# Installs what is missing, builds, and runs the main job: gmem-bench on
# its built-in defaults (extra arguments go to it), the instructions per
# dirty frame of a harvest (tools/harvest-insns), the page-table demo
# gmem-pt, the KVM guest gmem-kvm where /dev/kvm is present, then the
# replay of the trace corpus (bench/traces) and a plot of both runs.
# The exit status is gmem-bench's: 1 if a target was missed (pass
# --no-fail to ignore that).
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
if [ -e /dev/kvm ] && [ -x build/tools/gmem-kvm ]; then
	build/tools/gmem-kvm
else
	echo "SKIP: gmem-kvm: no /dev/kvm on this machine"
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
