// Command pptpctl controls a running pptpd through its control socket.
//
//	pptpctl [-s PATH] [-json] sessions
//	pptpctl [-s PATH] [-json] show ID
//	pptpctl [-s PATH] [-json] kill USER|ADDRESS|ID
//	pptpctl [-s PATH] [-json] reload
//	pptpctl [-s PATH] [-json] stats
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gopptp/gopptp/control"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage: pptpctl [-s PATH] [-json] COMMAND
commands:
  sessions                   list sessions
  show ID                    one session in full
  kill USER|ADDRESS|ID       end sessions of a user, a client (underlay or
                             tunnel address) or one session
  reload                     re-read configuration and secrets (as SIGHUP)
  stats                      server counters
`

// args says how many arguments each command takes.
var args = map[string]int{
	control.CmdSessions: 0, control.CmdShow: 1, control.CmdKill: 1,
	control.CmdReload: 0, control.CmdStats: 0,
}

func run(argv []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("pptpctl", flag.ContinueOnError)
	fl.SetOutput(stderr)
	sock := fl.String("s", control.DefaultSocket, "control socket `path` of the pptpd")
	asJSON := fl.Bool("json", false, "print the answer as JSON")
	timeout := fl.Duration("timeout", 10*time.Second, "give up after this long")
	fl.Usage = func() {
		fmt.Fprint(stderr, usage)
		fl.PrintDefaults()
	}
	if err := fl.Parse(argv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	// Accept flags after the command too (pptpctl sessions -json).
	rest := fl.Args()
	if len(rest) > 0 {
		if err := fl.Parse(rest[1:]); err != nil {
			return 2
		}
		rest = append([]string{rest[0]}, fl.Args()...)
	}
	if len(rest) == 0 {
		fl.Usage()
		return 2
	}
	cmd := rest[0]
	want, ok := args[cmd]
	if !ok {
		fmt.Fprintf(stderr, "pptpctl: unknown command %q\n", cmd)
		fl.Usage()
		return 2
	}
	if len(rest)-1 != want {
		fmt.Fprintf(stderr, "pptpctl: %s takes %d argument(s)\n", cmd, want)
		return 2
	}
	req := control.Request{Command: cmd}
	if want == 1 {
		req.Arg = rest[1]
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	resp, err := control.Call(ctx, *sock, req)
	if err != nil {
		if *asJSON && resp.Error != "" {
			writeJSON(stdout, resp)
		}
		fmt.Fprintf(stderr, "pptpctl: %v\n", err)
		return 1
	}
	if *asJSON {
		writeJSON(stdout, resp)
		return 0
	}
	switch cmd {
	case control.CmdSessions:
		printSessions(stdout, resp.Sessions)
	case control.CmdShow:
		for _, s := range resp.Sessions {
			printSession(stdout, s)
		}
	case control.CmdKill:
		fmt.Fprintf(stdout, "ended %d session(s)\n", resp.Killed)
	case control.CmdReload:
		fmt.Fprintln(stdout, resp.Message)
	case control.CmdStats:
		if resp.Stats != nil {
			printStats(stdout, *resp.Stats)
		}
	}
	return 0
}

func writeJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func printSessions(w io.Writer, ss []control.Session) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tUSER\tPEER\tTUNNEL\tIPV6\tCALL IDS\tAUTH\tMPPE\tUPTIME\tRX\tTX\tSTATE")
	for _, s := range ss {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d/%d\t%s\t%s\t%s\t%s\t%s\t%s\n",
			s.ID, dash(s.User), s.Peer, dash(s.Remote), ipv6(s), s.ID, s.PeerCallID, dash(s.Auth), mppe(s),
			uptime(s.UptimeSec), traffic(s.RxBytes, s.RxPackets), traffic(s.TxBytes, s.TxPackets), s.State)
	}
	tw.Flush()
}

func printSession(w io.Writer, s control.Session) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k string, v any) { fmt.Fprintf(tw, "%s:\t%v\n", k, v) }
	row("session", s.ID)
	row("state", s.State)
	row("user", dash(s.User))
	row("peer", s.Peer)
	row("call IDs (ours/peer's)", fmt.Sprintf("%d/%d", s.ID, s.PeerCallID))
	row("tunnel (ours/peer's)", fmt.Sprintf("%s/%s", dash(s.Local), dash(s.Remote)))
	row("IPv6 prefix", dash(s.IPv6Prefix))
	if len(s.DelegatedPrefixes) > 0 {
		row("delegated IPv6 prefixes", strings.Join(s.DelegatedPrefixes, " "))
	}
	row("authentication", dash(s.Auth))
	row("encryption (send/receive)", fmt.Sprintf("%s/%s", dash(s.MPPESend), dash(s.MPPERecv)))
	row("started", s.Started.Format(time.RFC3339))
	row("uptime", uptime(s.UptimeSec))
	row("received", fmt.Sprintf("%d bytes, %d packets", s.RxBytes, s.RxPackets))
	row("sent", fmt.Sprintf("%d bytes, %d packets", s.TxBytes, s.TxPackets))
	row("GRE lost/reordered/dropped", fmt.Sprintf("%d/%d/%d", s.Lost, s.Reordered, s.Dropped))
	row("MPPE resets sent/resyncs/resets received", fmt.Sprintf("%d/%d/%d", s.MPPEResetsSent, s.MPPEResyncs, s.MPPEResetsReceived))
	tw.Flush()
}

func printStats(w io.Writer, st control.Stats) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k string, v any) { fmt.Fprintf(tw, "%s:\t%v\n", k, v) }
	row("started", st.Started.Format(time.RFC3339))
	row("sessions up", st.Sessions)
	row("sessions negotiating", st.Negotiating)
	row("session limit", st.MaxSessions)
	row("control connections", st.Connections)
	row("logins ok/failed", fmt.Sprintf("%d/%d", st.LoginsOK, st.LoginsFailed))
	row("sources locked out", st.LockedSources)
	row("received bytes", st.RxBytes)
	row("sent bytes", st.TxBytes)
	row("refused", counts(st.Refused))
	row("dropped", counts(st.Drops))
	tw.Flush()
}

func counts(m map[string]uint64) string {
	if len(m) == 0 {
		return "none"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return strings.Join(parts, " ")
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// ipv6 is the session's /64 with the prefixes delegated to it, as one
// column: "2001:db8:1::/64+2001:db8:200::/56".
func ipv6(s control.Session) string {
	if s.IPv6Prefix == "" && len(s.DelegatedPrefixes) == 0 {
		return "-"
	}
	return strings.Join(append([]string{dash(s.IPv6Prefix)}, s.DelegatedPrefixes...), "+")
}

func mppe(s control.Session) string {
	if s.MPPESend == "" {
		return "-"
	}
	if s.MPPESend == s.MPPERecv {
		return s.MPPESend
	}
	return s.MPPESend + "/" + s.MPPERecv
}

func uptime(sec float64) string {
	return (time.Duration(sec) * time.Second).Round(time.Second).String()
}

func traffic(bytes, packets uint64) string {
	return fmt.Sprintf("%s/%dp", size(bytes), packets)
}

func size(b uint64) string {
	const unit = 1024
	if b < unit {
		return fmt.Sprintf("%dB", b)
	}
	div, exp := uint64(unit), 0
	for n := b / unit; n >= unit; n /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f%ciB", float64(b)/float64(div), "KMGTPE"[exp])
}
