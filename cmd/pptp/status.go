package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/gopptp/gopptp/control"
)

const statusUsage = `usage: pptp status [-json] [-s SOCKET] [NAME]

Shows the state of the running pptp whose link is NAME (its linkname, the
NAME of "call NAME", or its interface), or of every running pptp found in
the default socket directory.
`

// runStatus is "pptp status".
func runStatus(argv []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("pptp status", flag.ContinueOnError)
	fl.SetOutput(stderr)
	sock := fl.String("s", "", "control `socket` of the client (default: from NAME)")
	asJSON := fl.Bool("json", false, "print the status as JSON")
	timeout := fl.Duration("timeout", 5*time.Second, "give up after this long")
	fl.Usage = func() {
		fmt.Fprint(stderr, statusUsage)
		fl.PrintDefaults()
	}
	if err := fl.Parse(argv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	// Flags may follow the name too (pptp status work -json).
	rest := fl.Args()
	if len(rest) > 0 {
		if err := fl.Parse(rest[1:]); err != nil {
			return 2
		}
		rest = append([]string{rest[0]}, fl.Args()...)
	}
	if len(rest) > 1 {
		fl.Usage()
		return 2
	}
	var paths []string
	switch {
	case *sock != "":
		paths = []string{*sock}
	case len(rest) == 1:
		p, err := defaultSocket(rest[0])
		if err != nil {
			fmt.Fprintf(stderr, "pptp status: %v\n", err)
			return 1
		}
		paths = []string{p}
	default:
		dir, err := socketDir()
		if err != nil {
			fmt.Fprintf(stderr, "pptp status: %v\n", err)
			return 1
		}
		paths, _ = filepath.Glob(filepath.Join(dir, "pptp-*.sock"))
		slices.Sort(paths)
		if len(paths) == 0 {
			fmt.Fprintf(stderr, "pptp status: no running pptp found (no socket in %s)\n", dir)
			return 1
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	// With a single socket its errors are reported; among many, the
	// sockets of killed clients are skipped.
	single := len(paths) == 1
	var all []control.ClientStatus
	code := 0
	for _, p := range paths {
		resp, err := control.CallClient(ctx, p, control.Request{Command: control.CmdClientStatus})
		if !single && errors.Is(err, syscall.ECONNREFUSED) {
			continue // the socket of a client that was killed
		}
		if err != nil || resp.Status == nil {
			if err == nil {
				err = errors.New("empty answer")
			}
			fmt.Fprintf(stderr, "pptp status: %v\n", err)
			code = 1
			continue
		}
		all = append(all, *resp.Status)
	}
	if len(all) == 0 && code == 0 {
		fmt.Fprintln(stderr, "pptp status: no running pptp found")
		return 1
	}
	switch {
	case *asJSON && single && len(all) == 1:
		writeJSON(stdout, all[0])
	case *asJSON:
		writeJSON(stdout, all)
	default:
		now := time.Now()
		for i, s := range all {
			if i > 0 {
				fmt.Fprintln(stdout)
			}
			printStatus(stdout, s, now)
		}
	}
	return code
}

func writeJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// printStatus writes a status for people.
func printStatus(w io.Writer, s control.ClientStatus, now time.Time) {
	fmt.Fprintf(w, "%s: %s\n", s.Name, s.State)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k string, v any) { fmt.Fprintf(tw, "  %s:\t%v\n", k, v) }
	switch s.Mode {
	case "proxy":
		row("mode", "rootless: "+strings.Join(s.Proxies, ", "))
	default:
		row("interface", s.Interface)
	}
	row("server", s.Server)
	if s.User != "" {
		who := s.User
		if s.Auth != "" {
			who += " (" + s.Auth + ")"
		}
		row("user", who)
	}
	if s.State == control.ClientUp {
		row("addresses", s.Local+" -> "+s.Remote)
		row("encryption", dash(s.MPPE))
		if len(s.DNS) > 0 {
			row("dns", strings.Join(s.DNS, ", "))
		}
		if len(s.Routes) > 0 {
			row("routes", strings.Join(s.Routes, ", "))
		}
		row("uptime", fmt.Sprintf("%s (since %s)", (time.Duration(s.UptimeSec)*time.Second).String(), s.UpSince.Local().Format(time.DateTime)))
		row("sent", fmt.Sprintf("%s in %d packets", bytesText(s.TxBytes), s.TxPackets))
		row("received", fmt.Sprintf("%s in %d packets", bytesText(s.RxBytes), s.RxPackets))
	}
	if s.State == control.ClientWaiting && !s.NextTry.IsZero() {
		row("next attempt", "in "+s.NextTry.Sub(now).Round(time.Second).String())
	}
	row("attempts", fmt.Sprintf("%d (%d failed in a row)", s.Attempts, s.Failures))
	if s.LastError != "" {
		row("last error", fmt.Sprintf("%s (%s)", s.LastError, s.LastErrAt.Local().Format(time.DateTime)))
	}
	row("pid", s.PID)
	tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// bytesText writes a byte count in binary units.
func bytesText(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}
