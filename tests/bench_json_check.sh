#!/usr/bin/env bash
# gmem-bench --json with some sections: stdout is one valid JSON document
# holding those sections and no other, the targets of the others are
# skipped (null), and stderr shows one progress line per section.
set -euo pipefail
bench=$1
err=$(mktemp)
trap 'rm -f "$err"' EXIT
"$bench" --json --runs 1 --sections metadata,sync,paging 2>"$err" |
python3 -c '
import json, sys
d = json.load(sys.stdin)
for key in ("meta_uniform_gib", "all_view_sync_ns", "paging", "targets"):
    assert key in d, "missing " + key
for key in ("w5", "covers", "builds", "incremental", "logging", "notify",
            "real", "kvm"):
    assert key not in d, "section not asked for: " + key
assert d["results"] == [], "workloads ran"
ran = [t for t in d["targets"] if t["ok"] is not None]
skipped = [t for t in d["targets"] if t["value"] is None]
assert len(ran) == 4 and len(skipped) == len(d["targets"]) - 4, ran
print("json ok: %d targets run, %d skipped" % (len(ran), len(skipped)))
'
grep -c '^gmem-bench: \[[1-3]/3\] [a-z]* done in' "$err" | grep -qx 3
"$bench" --sections nosuch >/dev/null 2>&1 && exit 1
"$bench" --help | grep -q '^  kvm '
echo "progress and errors ok"
