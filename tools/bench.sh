#!/usr/bin/env bash
# Installs what is missing, builds, and runs the main job: gmem-bench on
# its built-in defaults (extra arguments go to gmem-bench), then the
# page-table demo, gmem-pt.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j"$(nproc)"
build/bench/gmem-bench "$@"
echo
exec build/tools/gmem-pt
