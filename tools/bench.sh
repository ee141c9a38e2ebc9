#!/usr/bin/env bash
# Installs what is missing, builds, and runs the main job: gmem-bench on
# its built-in defaults (extra arguments go to gmem-bench), then the
# page-table demo, gmem-pt, then the KVM guest, gmem-kvm, where /dev/kvm
# is present.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j"$(nproc)"
build/bench/gmem-bench "$@"
echo
build/tools/gmem-pt
echo
if [ -e /dev/kvm ] && [ -x build/tools/gmem-kvm ]; then
	exec build/tools/gmem-kvm
fi
echo "SKIP: gmem-kvm: no /dev/kvm on this machine"
