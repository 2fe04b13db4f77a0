package loadgen

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
)

// Percentile returns the p-th percentile (0 < p <= 100) of sorted by the
// nearest-rank method: the smallest value that at least p percent of the
// values do not exceed. It returns 0 for no values.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	// ceil(p/100 * n) computed in integers where possible, so that
	// p = 50 of 10 values is exactly rank 5.
	rank := int(p * float64(len(sorted)) / 100)
	if float64(rank)*100 < p*float64(len(sorted)) {
		rank++
	}
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// Failure counts the sessions that failed for one reason, with one
// example of the full error.
type Failure struct {
	Reason  string
	Count   int
	Example string
}

// Result is what a run measured.
type Result struct {
	Sessions int // asked for
	Started  int // dialled
	Up       int // reached the network phase
	Failed   int // did not reach it
	// Lost counts sessions that were up and ended before the hold was over
	// (or before the run was interrupted).
	Lost int
	// Failures are the reasons sessions failed, most frequent first;
	// LostReasons the same for lost sessions.
	Failures    []Failure
	LostReasons []Failure
	// Setup latencies (connect to IP flowing) of the sessions that came
	// up, sorted.
	Setup []time.Duration
	// SetupTime runs from the first session's start to the last one's
	// coming up; Rate is Up / SetupTime.
	SetupTime time.Duration
	Rate      float64
	// Held is how long every session that came up was held together.
	Held time.Duration
	// Pings.
	// PingsBad are echo replies that failed a check (checksums, lengths,
	// payload); PingsLate replies that came after their request counted
	// as lost, or twice. Unexpected counts other IP packets the sessions
	// received.
	PingsSent, PingsAnswered, PingsLost, PingsBad, PingsLate uint64
	Unexpected                                               uint64
	// Interrupted: the run was cut short (a signal).
	Interrupted bool
}

// OK reports whether every session came up and stayed up and every ping
// was answered.
func (r *Result) OK() bool {
	return !r.Interrupted && r.Up == r.Sessions && r.Failed == 0 && r.Lost == 0 && r.PingsLost == 0 && r.PingsBad == 0
}

// P returns the p-th percentile of the setup latencies.
func (r *Result) P(p float64) time.Duration { return Percentile(r.Setup, p) }

// Max returns the largest setup latency.
func (r *Result) Max() time.Duration {
	if len(r.Setup) == 0 {
		return 0
	}
	return r.Setup[len(r.Setup)-1]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond)) }

// Summary is the last line of the report, in a fixed form for scripts:
//
//	sessions: up=N failed=M setup_p50=...ms setup_p99=...ms rate=.../s pings_lost=K
func (r *Result) Summary() string {
	return fmt.Sprintf("sessions: up=%d failed=%d setup_p50=%s setup_p99=%s rate=%.1f/s pings_lost=%d",
		r.Up, r.Failed, ms(r.P(50)), ms(r.P(99)), r.Rate, r.PingsLost)
}

// Report writes the full report, ending with Summary.
func (r *Result) Report(w io.Writer) {
	var b strings.Builder
	fmt.Fprintf(&b, "setup: %d of %d sessions up, %d failed, in %v (%.1f sessions/s)\n",
		r.Up, r.Sessions, r.Failed, r.SetupTime.Round(time.Millisecond), r.Rate)
	if r.Started < r.Sessions {
		fmt.Fprintf(&b, "setup: %d sessions never started (interrupted)\n", r.Sessions-r.Started)
	}
	if len(r.Setup) > 0 {
		fmt.Fprintf(&b, "setup latency: p50=%s p90=%s p99=%s max=%s\n", ms(r.P(50)), ms(r.P(90)), ms(r.P(99)), ms(r.Max()))
	}
	writeReasons(&b, "failed", r.Failures)
	fmt.Fprintf(&b, "hold: %d sessions held together for %v, %d lost\n", r.Up, r.Held.Round(time.Millisecond), r.Lost)
	writeReasons(&b, "lost", r.LostReasons)
	if r.PingsSent > 0 {
		fmt.Fprintf(&b, "pings: sent=%d answered=%d lost=%d bad=%d late=%d\n", r.PingsSent, r.PingsAnswered, r.PingsLost, r.PingsBad, r.PingsLate)
	}
	if r.Unexpected > 0 {
		fmt.Fprintf(&b, "unexpected IP packets received: %d\n", r.Unexpected)
	}
	if r.Interrupted {
		b.WriteString("interrupted\n")
	}
	b.WriteString(r.Summary())
	b.WriteByte('\n')
	io.WriteString(w, b.String())
}

func writeReasons(b *strings.Builder, what string, fs []Failure) {
	for _, f := range fs {
		fmt.Fprintf(b, "  %s: %d x %s", what, f.Count, f.Reason)
		if f.Example != "" && f.Example != f.Reason {
			fmt.Fprintf(b, " (e.g. %s)", f.Example)
		}
		b.WriteByte('\n')
	}
}

// tally counts failures by reason.
type tally map[string]*Failure

func (t tally) add(reason, example string) {
	f := t[reason]
	if f == nil {
		f = &Failure{Reason: reason, Example: example}
		t[reason] = f
	}
	f.Count++
}

func (t tally) sorted() []Failure {
	var out []Failure
	for _, k := range slices.Sorted(maps.Keys(t)) {
		out = append(out, *t[k])
	}
	slices.SortStableFunc(out, func(a, b Failure) int { return cmp.Compare(b.Count, a.Count) })
	return out
}
