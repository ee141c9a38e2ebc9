#!/usr/bin/env bash
# gmem-bench as a script uses it:
# - --json with some sections: stdout is one valid JSON document holding
#   those sections and no other, every member named in doc/bench.md, the
#   targets of the others skipped (null), stderr one progress line per
#   section;
# - the exit status says whether a target was missed, unless --no-fail;
# - --trace and --csv: a corpus trace replayed against every store, the
#   rows and targets in the CSV, which tools/plot-bench draws as a PNG;
# - tools/harvest-insns counts a harvest's instructions per dirty frame,
#   fewer for clustered frames than for scattered ones.
#   bench_json_check.sh GMEM_BENCH SOURCE_DIR
set -euo pipefail
bench=$1 src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$bench" --json --runs 1 --no-fail \
	--sections metadata,sync,paging,scaling,logging \
	--threads 2 2>"$tmp/err" >"$tmp/out.json"
python3 - "$tmp/out.json" "$src/doc/bench.md" <<'PY'
import json, re, sys
d = json.load(open(sys.argv[1]))
doc = set(re.findall(r"`([a-z_0-9]+)`", open(sys.argv[2]).read()))
for key in ("meta_uniform_gib", "all_view_sync_ns", "paging", "scaling",
            "logging", "targets"):
    assert key in d, "missing " + key
for key in ("w5", "covers", "builds", "incremental", "notifiers",
            "conversions", "kvm"):
    assert key not in d, "section not asked for: " + key
assert d["results"] == [], "workloads ran"
ran = [t for t in d["targets"] if t["ok"] is not None]
skipped = [t for t in d["targets"] if t["value"] is None]
assert [r["threads"] for r in d["scaling"]] == [1, 2], d["scaling"]
assert len(ran) == 14 and len(skipped) == len(d["targets"]) - 14, ran
def names(v):
    if isinstance(v, dict):
        for k, x in v.items():
            yield k
            yield from names(x)
    elif isinstance(v, list):
        for x in v:
            yield from names(x)
missing = sorted(set(names(d)) - doc)
assert not missing, "not in doc/bench.md: %s" % missing
print("json ok: %d targets run, %d skipped, every member documented"
      % (len(ran), len(skipped)))
PY
grep -c '^gmem-bench: \[[1-5]/5\] [a-z]* done in' "$tmp/err" | grep -xc 5 >/dev/null

# The exit status follows the targets: 1 if one is missed.
rc=0
"$bench" --json --runs 1 --sections logging,metadata >"$tmp/t.json" 2>/dev/null || rc=$?
missed=$(python3 -c 'import json,sys
print(sum(t["ok"] is False for t in json.load(open(sys.argv[1]))["targets"]))' "$tmp/t.json")
[ "$rc" = $((missed > 0)) ] || { echo "exit $rc with $missed missed"; exit 1; }
"$bench" --runs 1 --sections logging,metadata --no-fail >/dev/null 2>&1
echo "exit status ok: $rc with $missed missed, 0 with --no-fail"

# Bad usage is 2.
rc=0
"$bench" --sections nosuch >/dev/null 2>&1 || rc=$?
[ $rc = 2 ] || { echo "--sections nosuch: exit $rc"; exit 1; }
rc=0
"$bench" --threads 0 >/dev/null 2>&1 || rc=$?
[ $rc = 2 ] || { echo "--threads 0: exit $rc"; exit 1; }
rc=0
"$bench" --sections traces >/dev/null 2>&1 || rc=$?
[ $rc = 2 ] || { echo "--sections traces without --trace: exit $rc"; exit 1; }
"$bench" --help | grep -c '^  traces ' >/dev/null

# A corpus trace, as CSV, and its plot.
"$bench" --runs 1 --sections traces --no-fail --csv "$tmp/r.csv" \
	--trace "$src/bench/traces/hugepage-1g.trace" >"$tmp/text" 2>/dev/null
grep -q '^trace:hugepage-1g  *libgmem ' "$tmp/text"
for store in libgmem bitmap radix bitmap-nolock; do
	grep -q "^workload,trace:hugepage-1g,$store,ns_per_op," "$tmp/r.csv" ||
		{ echo "no $store row in the CSV"; exit 1; }
done
grep -q '^target,"W1 ns/op",,value,$' "$tmp/r.csv"
"$src/tools/plot-bench" -o "$tmp/p.png" "$tmp/r.csv" >/dev/null
head -c 8 "$tmp/p.png" | od -An -tx1 | grep -c '89 50 4e 47 0d 0a 1a 0a' >/dev/null
echo "traces, CSV and plot ok"

# Instructions per dirty frame (callgrind): both patterns, each a count,
# and the eager table's beside it: the same writes, harvested by the same
# code, so lazy splitting may cost a harvest no more than 2% of them.
"$src/tools/harvest-insns" "$(dirname "$(dirname "$bench")")" >"$tmp/insns"
python3 - "$tmp/insns" <<'PY'
import re, sys
per, eager = {}, {}
for line in open(sys.argv[1]):
    m = re.match(r"harvest, (\w+): +(\d+) dirty frames, +(\d+) instructions: (\d+) per dirty frame; eager table (\d+)", line)
    if m and int(m.group(2)) > 0 and int(m.group(3)) > 0:
        per[m.group(1)] = int(m.group(4))
        eager[m.group(1)] = int(m.group(5))
if (set(per) != {"random", "clustered"} or
        not per["clustered"] < per["random"] or
        any(per[p] > eager[p] * 1.02 + 1 for p in per)):
    sys.exit("harvest-insns: " + open(sys.argv[1]).read())
PY
echo "harvest instructions per dirty frame ok"

# Builds side by side: the same build twice, each target's median for
# both, and a figure asked for by its path (one that is not there:
# printed bare, with no median).
"$src/tools/bench-ab" -n 1 -b "$bench" -s logging \
	-f logging.clustered.harvest_us -f logging.nothing \
	"$(dirname "$(dirname "$bench")")/lib" \
	"$(dirname "$(dirname "$bench")")/lib" >"$tmp/ab"
[ "$(grep -c '^  .* median ' "$tmp/ab")" -ge 2 ] &&
	grep -q '^harvest, clustered: speed-up over per-word (limit 3)$' "$tmp/ab" &&
	grep -A2 '^logging.clustered.harvest_us$' "$tmp/ab" |
		[ "$(grep -c ' median ')" -eq 2 ] &&
	grep -A1 '^logging.nothing$' "$tmp/ab" | [ "$(grep -c ' median ')" -eq 0 ] ||
	{ cat "$tmp/ab"; exit 1; }
echo "builds side by side ok"

