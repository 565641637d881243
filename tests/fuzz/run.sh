#!/usr/bin/env bash
# tests/fuzz/run.sh - run every libFuzzer target for a while (CI, or by hand).
#
#     tests/fuzz/run.sh BUILD_DIR [SECONDS] [PARALLEL]
#
# BUILD_DIR is a fuzz build (cmake --preset fuzz; cmake --build --preset
# fuzz --target fuzz), whose targets are BUILD_DIR/fuzz/fuzz_<name>.  This
# script builds nothing.  Each target runs for SECONDS (default 60) on a
# fresh copy of its seed corpus tests/fuzz/corpus/<name>/ (so the committed
# seeds never change), one process per target, PARALLEL targets at a time
# (1 or 2, default 1; ZC_FUZZ_TARGETS="buddy xcf" picks targets).
#
# Prints, per target, one summary line with libFuzzer's execution count
# (its stat::number_of_executed_units, else its "Done N runs")
#     fuzz <name>: <N> executions in <S> s, corpus <A> -> <B> inputs, ok
# and a last line with the total.  Exits 1 if any target crashed, leaked,
# timed out, ran out of memory or did not run at all; the inputs that did it
# are kept under BUILD_DIR/fuzz-artifacts/<name>/ and their paths printed,
# with the end of the target's log.  Replay one with
#     BUILD_DIR/fuzz/fuzz_<name> BUILD_DIR/fuzz-artifacts/<name>/crash-...
set -u

here=$(cd "$(dirname "$0")" && pwd)
build=${1:?usage: run.sh BUILD_DIR [SECONDS] [PARALLEL]}
secs=${2:-60}
par=${3:-1}
case $secs in '' | *[!0-9]*) echo "run.sh: SECONDS must be a number" >&2; exit 2 ;; esac
case $par in 1 | 2) ;; *) echo "run.sh: PARALLEL must be 1 or 2" >&2; exit 2 ;; esac
build=$(cd "$build" && pwd) || exit 2

targets=${ZC_FUZZ_TARGETS:-}
if [ -z "$targets" ]; then
	for d in "$here"/corpus/*/; do
		targets="$targets $(basename "$d")"
	done
fi

runs="$build/fuzz-run"
arts="$build/fuzz-artifacts"
mkdir -p "$runs" "$arts"

# Run one target; its results go to $runs/<name>/result.
run_one() {
	local name=$1 exe="$build/fuzz/fuzz_$1" dir="$runs/$1" art="$arts/$1"
	local rc execs crashes nseed ncorp
	rm -rf "$dir" "$art"
	mkdir -p "$dir/corpus" "$art"
	cp "$here/corpus/$name"/* "$dir/corpus/" 2>/dev/null
	nseed=$(ls "$dir/corpus" | wc -l)
	if [ ! -x "$exe" ]; then
		echo "fuzz $name: FAILED (no executable $exe: build the fuzz target first)" >"$dir/result"
		return
	fi
	# -timeout: an input running 300 s is a hang (an input takes
	# milliseconds, but the machine itself has been seen to stall for a
	# minute, which a 30 s limit reported as a hang of two targets at
	# once); -rss_limit_mb: the targets bound their own memory far below
	# this (ASan's quarantine accounts for most of the RSS).
	"$exe" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=300 -print_final_stats=1 \
		-artifact_prefix="$art/" "$dir/corpus" >"$dir/log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log" | tail -1)
	[ -n "$execs" ] || execs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$dir/log" | tail -1)
	[ -n "$execs" ] || execs=0
	ncorp=$(ls "$dir/corpus" | wc -l)
	crashes=$(ls "$art" 2>/dev/null)
	{
		echo "fuzz-executions: $execs"
		if [ "$rc" -eq 0 ] && [ -z "$crashes" ]; then
			echo "fuzz $name: $execs executions in $secs s, corpus $nseed -> $ncorp inputs, ok"
		else
			echo "fuzz $name: FAILED (exit $rc) after $execs executions; log $dir/log"
			grep -a -m1 -E 'ERROR: |FZ_ASSERT|runtime error|SUMMARY' "$dir/log"
			tail -n 40 "$dir/log"
			for c in $crashes; do
				echo "fuzz $name: input kept: $art/$c"
			done
		fi
	} >"$dir/result"
}

# Start every target, at most $par at a time.
running=0
for t in $targets; do
	if [ "$running" -ge "$par" ]; then
		wait -n
		running=$((running - 1))
	fi
	echo "fuzz $t: running for $secs s"
	run_one "$t" &
	running=$((running + 1))
done
wait

status=0
total=0
n=0
for t in $targets; do
	r="$runs/$t/result"
	if [ ! -f "$r" ]; then
		echo "fuzz $t: FAILED (no result)"
		status=1
		continue
	fi
	grep -v '^fuzz-executions: ' "$r"
	grep -q "^fuzz $t: FAILED" "$r" && status=1
	e=$(sed -n 's/^fuzz-executions: *//p' "$r")
	total=$((total + ${e:-0}))
	n=$((n + 1))
done
if [ "$n" -eq 0 ]; then
	echo "fuzz: no target ran"
	status=1
fi
if [ "$status" -eq 0 ]; then
	echo "fuzz total: $total executions, $n targets x $secs s, no crash"
else
	echo "fuzz total: $total executions, $n targets x $secs s, FAILED"
fi
exit $status
