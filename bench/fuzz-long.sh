#!/usr/bin/env bash
# fuzz-long.sh: run every Go fuzz target of the module, one after the other,
# and print a table of what each did. This is how the long (10-minute) runs
# that the hardening issue asks for are reproduced; .ci/fuzz-short is the
# same thing for a few seconds per target.
#
# Usage: bench/fuzz-long.sh [-t DURATION] [-l LOGDIR] [PKG:FuzzName ...]
#   -t  time per target, as go test -fuzztime takes it (default 10m)
#   -l  directory for the per-target logs (default a new temporary one)
#   PKG:FuzzName  run only these targets (e.g. ./mppe:FuzzOpen); by default
#       every "func FuzzX(f *testing.F)" in a *_test.go file is run.
#
# Targets run at nice 19 with one fuzzing worker (-parallel=1), so that the
# machine stays usable. A crash, hang or failure of a target is reported in
# the table (the fuzzer writes the input to PKG/testdata/fuzz/FuzzName/) and
# makes the script exit 1 at the end; the remaining targets still run.
# A run whose only complaint is Go's own -fuzztime deadline race
# (go.dev/issue/75804) is reported as deadline-race and does not fail.
#
# Columns: execs is the fuzzer's total for the run, execs/s that divided by
# the elapsed time the fuzzer last reported, new the inputs that widened
# coverage (added to the cache, $(go env GOCACHE)/fuzz), corpus the total
# corpus it reported, rss the peak resident memory of the run's processes
# (GNU time's maximum over the test binary: the larger of the fuzzing
# coordinator and its worker).
set -uo pipefail
cd "$(dirname "$0")/.."

DURATION=10m
LOGDIR=
while getopts t:l: opt; do
	case $opt in
	t) DURATION=$OPTARG ;;
	l) LOGDIR=$OPTARG ;;
	*) sed -n '2,/^set /p' "$0" | sed '$d' >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ -n "$LOGDIR" ] || LOGDIR=$(mktemp -d /tmp/fuzz-long.XXXXXX)
mkdir -p "$LOGDIR"

# deadline_race LOG reports whether a failed run's only complaint is the
# coordinator's "context deadline exceeded" at the end of -fuzztime, with
# no failing input, panic or test failure of its own.
deadline_race() {
	grep -q 'context deadline exceeded' "$1" &&
		! grep -qE 'Failing input written to|panic:|fuzzing process hung|out of memory|_test\.go:[0-9]+:' "$1"
}

# list_targets prints "./pkg:FuzzName" for every fuzz target in the module.
list_targets() {
	git ls-files --cached --others --exclude-standard '*_test.go' |
		xargs grep -H '^func Fuzz[A-Za-z0-9_]*(f \*testing\.F)' |
		sed -E 's|^(.*)/[^/]*_test\.go:func (Fuzz[A-Za-z0-9_]*)\(.*|./\1:\2|' | sort -u
}

if [ $# -gt 0 ]; then
	targets=("$@")
else
	mapfile -t targets < <(list_targets)
fi

timecmd=()
[ -x /usr/bin/time ] && timecmd=(/usr/bin/time -v)

summary=$LOGDIR/summary.tsv
printf 'target\texecs\texecs/s\tnew\tcorpus\telapsed\trss_MiB\tresult\n' >"$summary"
failed=0
echo "logs in $LOGDIR; ${#targets[@]} targets, $DURATION each" >&2
for t in "${targets[@]}"; do
	pkg=${t%%:*}
	name=${t##*:}
	log=$LOGDIR/$(echo "$pkg" | tr '/.' '__')_$name.log
	echo "$(date +%T) $pkg $name" >&2
	start=$(date +%s)
	# The test binary is built first (instrumented for fuzzing, as go test
	# -fuzz builds it) and run directly, so that the memory figure is that
	# of the fuzzer and not of the compiler. The cache directory is the one
	# go test -fuzz uses, so both share what they find.
	bin=$LOGDIR/$(basename "$log" .log).test
	ipath=$(go list -f '{{.ImportPath}}' "$pkg")
	if ! nice -n 19 go test -c -fuzz="^${name}\$" -o "$bin" "$pkg" >"$log" 2>&1; then
		rc=1
	else
		# -test.run='^$' skips the package's ordinary tests; the seed
		# corpus of the target still runs first, as part of fuzzing.
		(cd "$pkg" && nice -n 19 "${timecmd[@]}" "$bin" -test.run='^$' -test.fuzz="^${name}\$" \
			-test.fuzztime="$DURATION" -test.parallel=1 -test.timeout=0 \
			-test.fuzzcachedir="$(go env GOCACHE)/fuzz/$ipath") >>"$log" 2>&1
		rc=$?
	fi
	rm -f "$bin"
	end=$(date +%s)
	last=$(grep -E '^fuzz: elapsed: ' "$log" | grep 'execs: ' | tail -1)
	execs=$(sed -nE 's/.*execs: ([0-9]+) .*/\1/p' <<<"$last")
	el=$(sed -nE 's/^fuzz: elapsed: ([0-9hms.]+),.*/\1/p' <<<"$last")
	newi=$(sed -nE 's/.*new interesting: ([0-9]+) .*/\1/p' <<<"$last")
	total=$(sed -nE 's/.*\(total: ([0-9]+)\).*/\1/p' <<<"$last")
	secs=$(awk -v e="$el" 'BEGIN {
		s = 0; n = ""
		for (i = 1; i <= length(e); i++) {
			c = substr(e, i, 1)
			if (c == "h") { s += n * 3600; n = "" } else if (c == "m") { s += n * 60; n = "" }
			else if (c == "s") { s += n; n = "" } else n = n c
		}
		print s }')
	rate=$(awk -v x="${execs:-0}" -v s="${secs:-0}" 'BEGIN { if (s > 0) printf "%.0f", x / s; else print 0 }')
	rss=$(sed -nE 's/.*Maximum resident set size \(kbytes\): ([0-9]+)/\1/p' "$log" | tail -1)
	rss=$(awk -v k="${rss:-0}" 'BEGIN { printf "%.0f", k / 1024 }')
	if [ $rc -eq 0 ] && grep -q '^PASS' "$log"; then
		result=ok
	elif deadline_race "$log"; then
		# Go's fuzzing coordinator can report its own -fuzztime deadline
		# as a failure (go.dev/issue/75804, fixed in Go 1.27): nothing
		# failed and no input was written. Counted, not failed.
		result=deadline-race
	else
		result=FAIL
		failed=1
		grep -E 'Failing input written to|--- FAIL|panic:|fuzzing process hung|out of memory' "$log" | head -3 >&2
	fi
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "${execs:-0}" "$rate" "${newi:-0}" "${total:-0}" \
		"${el:-$((end - start))s}" "$rss" "$result" >>"$summary"
done

column -t -s $'\t' "$summary"
exit $failed
