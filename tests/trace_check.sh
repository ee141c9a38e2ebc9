#!/usr/bin/env bash
# gmem-trace started on trace_target: the counts it reports and the
# conversions it records are exactly those the program made.
#   trace_check.sh GMEM_TRACE TRACE_TARGET
set -euo pipefail
trace=$1 target=$2

skip() {
	echo "SKIP: gmem-trace: $*"
	exit 77
}
[ "$(id -u)" = 0 ] || skip "needs root, for BPF and uprobes"
[ -d /sys/bus/event_source/devices/uprobe ] || skip "this kernel has no uprobes"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

if ! "$trace" --record "$dir/rec" -- "$target" "$dir/expect" \
	>"$dir/out" 2>"$dir/err"; then
	cat "$dir/out" "$dir/err"
	grep -q "cannot load the BPF programs" "$dir/err" &&
		skip "the kernel refused the BPF programs"
	echo "trace_check: gmem-trace failed"
	exit 1
fi
cat "$dir/out"
bad=0
fail() {
	echo "trace_check: $*"
	bad=1
}
# What the program says it did: "all CONVERSIONS FRAMES".
read -r _ n frames < <(grep '^all ' "$dir/out")
# The totals, the last screen: "  all  PRIVATE SHARED FRAMES".
read -r _ priv shared got_frames < <(grep '^  all ' "$dir/out" | tail -1)
[ $((priv + shared)) = "$n" ] || fail "conversions: $((priv + shared)), not $n"
[ "$got_frames" = "$frames" ] || fail "frames: $got_frames, not $frames"
totals=$(sed -n '/^gmem-trace: totals/,$p' "$dir/out")
for want in "refused        EBUSY 1" "other errors   EINVAL 1" \
	"transactions   prepared 2, committed 1, aborted 1" \
	"pins           1 pinned, 1 unpinned" "syncs  " \
	"recorded       $n conversions"; do
	grep -qF -- "$want" <<<"$totals" || fail "no \"$want\" in the totals"
done
grep -q '^gmem-trace: pid ' "$dir/out" || fail "no screen while it ran"
cmp -s "$dir/expect" "$dir/rec" ||
	fail "the recorded trace differs: $(diff "$dir/expect" "$dir/rec" | head -5)"
[ $bad = 0 ] && echo "trace_check: $n conversions of $frames frames, counted and recorded exactly"

# By pid, once the program runs: it sees what is left, and ends with it.
"$target" "$dir/expect2" 1500 >/dev/null &
sleep 0.5
"$trace" -p $! >"$dir/out2" 2>&1 || fail "gmem-trace -p failed: $(tail -3 "$dir/out2")"
wait
read -r _ priv shared _ < <(grep '^  all ' "$dir/out2" | tail -1)
[ $((priv + shared)) -gt 0 ] && [ $((priv + shared)) -le "$n" ] ||
	fail "-p: $((priv + shared)) conversions of the $n made"

# Clear errors: without root; with no libgmem in the command.
if command -v setpriv >/dev/null; then
	setpriv --reuid=65534 --regid=65534 --clear-groups "$trace" -- /bin/true 		>/dev/null 2>"$dir/err3" && fail "ran without root"
	grep -q "needs root" "$dir/err3" || fail "without root: $(cat "$dir/err3")"
fi
"$trace" -- /bin/true >/dev/null 2>"$dir/err4" && fail "traced /bin/true"
grep -q "does not use libgmem" "$dir/err4" || fail "/bin/true: $(cat "$dir/err4")"
[ $bad = 0 ] && echo "trace_check: -p and the errors as documented"
exit $bad
