package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gopptp/gopptp/client"
	"github.com/gopptp/gopptp/internal/logging"
)

// The --nolaunchpppd mode: pppd runs us as its pty, as it runs pptp-linux
// ("pty \"pptp SERVER --nolaunchpppd\"" in a peers file, or
// NetworkManager-pptp's "pptp SERVER --nolaunchpppd --loglevel 0
// --logstring nm-pptp-service-PID"), and we relay its PPP frames through
// a PPTP call. Standard output is pppd's PPP stream, so logs go to
// standard error, which pppd hands to its log.

const ptyUsage = `usage: pptp SERVER --nolaunchpppd [pptp-linux options]

Run by pppd as its pty (pty "pptp SERVER --nolaunchpppd" in a peers file):
places a PPTP call to SERVER and relays PPP frames between standard input
and output (HDLC framing, or one frame per read with --sync) and the call.
pppd negotiates PPP itself. Options, as pptp-linux's:
  --loglevel N           0 warnings and errors, 1 (default) progress, 2 debug
  --logstring TEXT       tag every log line with TEXT
  --localbind ADDR       local address of the control connection and GRE
  --port N               the server's TCP port (default 1723)
  --phone NUMBER         phone number sent in the Outgoing-Call-Request
  --timeout SECS         wait for reordered GRE packets (0.01-10, default 0.05)
  --nobuffer             hold reordered packets at most 1 ms
  --idle-wait SECS       control connection echo interval (default 60)
  --sync                 pppd runs with "sync": no HDLC framing
Accepted and ignored: --quirks, --debug, --nohostroute, --max-echo-wait,
--rtmark, --test-type, --test-rate.
`

// ptyFlag is "--nolaunchpppd", whose presence selects the mode.
const ptyFlag = "--nolaunchpppd"

// isPtyMode reports whether the command line asks for the pty relay.
func isPtyMode(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		if a == ptyFlag {
			return true
		}
	}
	return false
}

// ptyInvocation is a parsed --nolaunchpppd command line.
type ptyInvocation struct {
	cfg       client.PtyConfig
	logLevel  int    // pptp-linux's --loglevel
	logString string // --logstring
	version   bool
	ignored   []string // options accepted without effect, for a debug line
	warn      []string // ignored options whose absence may matter
}

// pptp-linux's options that take a value, as the next word or after "=".
var ptyValueOptions = map[string]bool{
	"--phone": true, "--quirks": true, "--timeout": true, "--logstring": true,
	"--localbind": true, "--loglevel": true, "--idle-wait": true, "--max-echo-wait": true,
	"--test-type": true, "--test-rate": true, "--rtmark": true, "--port": true,
}

// parsePtyArgs reads a pptp-linux command line: options (before or after
// the server, "--opt value" or "--opt=value") and exactly one server.
func parsePtyArgs(args []string) (*ptyInvocation, error) {
	inv := &ptyInvocation{logLevel: 1}
	var port int
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return nil, fmt.Errorf("%q: pppd options make no sense with %s (pppd started us)", strings.Join(args[i:], " "), ptyFlag)
		}
		if !strings.HasPrefix(a, "-") {
			if inv.cfg.Server != "" {
				return nil, fmt.Errorf("%q after the server %q: pppd options make no sense with %s (pppd started us)", a, inv.cfg.Server, ptyFlag)
			}
			inv.cfg.Server = a
			continue
		}
		name, val, hasVal := strings.Cut(a, "=")
		if ptyValueOptions[name] && !hasVal {
			if i+1 >= len(args) {
				return nil, fmt.Errorf("%s needs a value", name)
			}
			i++
			val = args[i]
		} else if hasVal && !ptyValueOptions[name] {
			return nil, fmt.Errorf("%s takes no value", name)
		}
		var err error
		switch name {
		case ptyFlag:
		case "--loglevel":
			inv.logLevel, err = strconv.Atoi(val)
			if err == nil && (inv.logLevel < 0 || inv.logLevel > 2) {
				err = errors.New("want 0, 1 or 2")
			}
		case "--logstring":
			inv.logString = val
		case "--localbind":
			inv.cfg.LocalAddr, err = netip.ParseAddr(val)
			inv.cfg.LocalAddr = inv.cfg.LocalAddr.Unmap()
		case "--port":
			port, err = strconv.Atoi(val)
			if err == nil && (port <= 0 || port > 65535) {
				err = errors.New("out of range")
			}
		case "--phone":
			inv.cfg.Phone = val
			if len(val) > 64 {
				err = errors.New("longer than the 64 bytes PPTP carries")
			}
		case "--timeout":
			inv.cfg.ReorderTimeout, err = seconds(val, 0.01, 10)
		case "--nobuffer":
			// pptp-linux then delivers out-of-order packets at once;
			// the shortest wait comes closest without a second code
			// path in the engine.
			inv.cfg.ReorderTimeout = time.Millisecond
		case "--idle-wait":
			inv.cfg.EchoInterval, err = seconds(val, 1, 24*3600)
		case "--sync":
			inv.cfg.Sync = true
		case "--version":
			inv.version = true
		case "--quirks", "--debug", "--nohostroute", "--max-echo-wait":
			// --quirks names workarounds for particular ISPs' servers,
			// --debug keeps pptp-linux in the foreground (we always
			// are), we add no host route, and the control connection
			// waits as long for an echo reply as --idle-wait.
			inv.ignored = append(inv.ignored, a)
		case "--rtmark", "--test-type", "--test-rate":
			inv.warn = append(inv.warn, a)
		default:
			return nil, fmt.Errorf("unknown option %s", a)
		}
		if err != nil {
			return nil, fmt.Errorf("%s %s: %v", name, val, err)
		}
	}
	if inv.version {
		return inv, nil
	}
	if inv.cfg.Server == "" {
		return nil, errors.New("no server: pptp SERVER --nolaunchpppd")
	}
	if port != 0 {
		inv.cfg.Server = net.JoinHostPort(strings.Trim(inv.cfg.Server, "[]"), strconv.Itoa(port))
	}
	return inv, nil
}

// seconds parses a pptp-linux duration in (fractional) seconds within
// [lo, hi].
func seconds(s string, lo, hi float64) (time.Duration, error) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, err
	}
	if f < lo || f > hi {
		return 0, fmt.Errorf("want %g to %g seconds", lo, hi)
	}
	return time.Duration(f * float64(time.Second)), nil
}

// ptyLogLevel maps pptp-linux's --loglevel onto slog.
func ptyLogLevel(n int) slog.Level {
	switch n {
	case 0:
		return slog.LevelWarn
	case 1:
		return slog.LevelInfo
	}
	return slog.LevelDebug
}

// runPty is main for --nolaunchpppd.
func runPty(args []string, stdin, stdout *os.File, stderr io.Writer) int {
	inv, err := parsePtyArgs(args)
	if err != nil {
		fmt.Fprintf(stderr, "pptp: %v\n\n%s", err, ptyUsage)
		return client.ExitOptionError
	}
	if inv.version {
		fmt.Fprintln(stderr, "pptp (gopptp), pptp-linux compatible --nolaunchpppd mode")
		return 0
	}
	log := logging.New(stderr, ptyLogLevel(inv.logLevel), "text")
	if inv.logString != "" {
		log = log.With("tag", inv.logString)
	}
	for _, o := range inv.ignored {
		log.Debug("option accepted and ignored", "option", o)
	}
	for _, o := range inv.warn {
		log.Warn("option not supported, ignored", "option", o)
	}
	inv.cfg.Log = log
	inv.cfg.In, inv.cfg.Out = pollable(stdin, log), pollable(stdout, log)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	// pppd writes to its end of the pty after we are gone only if it
	// outlives us; a closed pipe must come back as an error, not kill us.
	signal.Ignore(syscall.SIGPIPE)
	err = client.RunPty(ctx, inv.cfg)
	if err == nil {
		return 0
	}
	var ce *client.Error
	if errors.As(err, &ce) {
		log.Error(ce.Msg)
		return ce.Code
	}
	log.Error(err.Error())
	return client.ExitFatal
}

// pollable returns f in non-blocking mode, registered with Go's poller, so
// that a read blocked on pppd's pty can be interrupted at the end by a
// deadline. A file that cannot be (a regular file) is returned as it is.
func pollable(f *os.File, log *slog.Logger) *os.File {
	fd := int(f.Fd())
	if err := syscall.SetNonblock(fd, true); err != nil {
		log.Debug("standard stream stays blocking", "fd", fd, "err", err)
		return f
	}
	// os.NewFile sees the non-blocking flag and uses the poller. The
	// original *os.File is left open: closing it would close the fd.
	return os.NewFile(uintptr(fd), f.Name())
}
