package loadgen

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/gopptp/gopptp/config"
	"github.com/gopptp/gopptp/internal/policy"
	"github.com/gopptp/gopptp/ppp/ccp"
	"github.com/gopptp/gopptp/pptp"
)

// User is one account the sessions log in with.
type User struct {
	Name     string
	Password string
}

// Config describes one run.
type Config struct {
	// Server is the server's IPv4 address and control port.
	Server netip.AddrPort
	// Sessions is how many sessions to open.
	Sessions int
	// Rate is how many sessions start per second at most (0: as fast as
	// Concurrency allows).
	Rate float64
	// Concurrency bounds the sessions negotiating at once (from the TCP
	// connect to the network phase or failure).
	Concurrency int
	// Hold is how long all sessions stay up together once the last one
	// has come up (or failed); then they are torn down.
	Hold time.Duration
	// Ping is the interval at which each session pings the server's tunnel
	// address while held (0: no pings); PingTimeout is how long a reply
	// may take before the request counts as lost.
	Ping, PingTimeout time.Duration
	// Users are the accounts, used in turn: session i logs in as
	// Users[i % len(Users)].
	Users []User
	// MPPE is what the sessions accept and require.
	MPPE ccp.Config
	// Sources are the local addresses the sessions use in turn, for the
	// control connection and GRE. Empty: the address the kernel picks
	// towards the server.
	Sources []netip.Addr
	// EchoInterval and EchoFailure are the LCP keepalive (pppd's
	// lcp-echo-interval and lcp-echo-failure).
	EchoInterval time.Duration
	EchoFailure  int
	// SetupTimeout bounds one session's setup, connect to network phase.
	SetupTimeout time.Duration
	// Progress is the interval of progress lines on ProgressOut (0: none).
	Progress    time.Duration
	ProgressOut io.Writer
	// Log receives the protocol logs of every session (nil: none).
	Log *slog.Logger
	// Debug is -debug: the command sets Log to log at debug level (every
	// PPP packet of every session) rather than warnings only.
	Debug bool
	// Enter runs fn where the generator's sockets are created (tests use
	// a network namespace's Do); nil runs fn directly.
	Enter func(fn func() error) error
}

// Defaults of the flags that have one.
const (
	DefaultConcurrency  = 100
	DefaultPingTimeout  = 3 * time.Second
	DefaultSetupTimeout = 60 * time.Second
	DefaultProgress     = 5 * time.Second
)

// UsageError is a bad command line; the command exits with status 2.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

func usageErr(format string, args ...any) error {
	return &UsageError{Msg: fmt.Sprintf(format, args...)}
}

// Usage is the command's synopsis.
const Usage = `usage: pptp-load [flags] SERVER[:PORT]

Opens real PPTP sessions against SERVER from one process (control
connection, GRE, LCP, MS-CHAP-v2, CCP/MPPE, IPCP), optionally pings the
server's tunnel address through each, holds them, tears them down and
reports. Exit status: 0 when every session came up, none was lost and
every ping was answered; 1 otherwise; 2 for a bad command line.

flags:
`

// ParseFlags parses the command line (without the program name). Flags may
// come before or after SERVER. A bad command line returns a *UsageError;
// -h returns flag.ErrHelp.
func ParseFlags(args []string, out io.Writer) (Config, error) {
	fs := flag.NewFlagSet("pptp-load", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var (
		n           = fs.Int("n", 1, "number of sessions")
		rate        = fs.Float64("rate", 0, "new sessions per second at most (0: as fast as -concurrency allows)")
		conc        = fs.Int("concurrency", DefaultConcurrency, "sessions negotiating at once")
		hold        = fs.Duration("hold", 0, "how long all sessions stay up together once set up")
		ping        = fs.Duration("ping", 0, "each session pings the server's tunnel address at this interval while held (0: off)")
		pingTimeout = fs.Duration("ping-timeout", DefaultPingTimeout, "a ping unanswered after this long is lost")
		user        = fs.String("user", "", "user name for every session")
		password    = fs.String("password", "", "password for -user")
		secrets     = fs.String("secrets", "", "chap-secrets `FILE` whose entries the sessions use in turn (instead of -user/-password)")
		mppe        = fs.String("mppe", "128", "encryption: 128, 40 or none")
		source      = fs.String("source", "", "local address(es) for control connections and GRE, used in turn: a list of addresses, ranges and CIDR blocks as in pptpd.conf")
		echo        = fs.Duration("lcp-echo-interval", policy.DefaultEchoInterval*time.Second, "LCP echo interval (0: off)")
		echoFail    = fs.Int("lcp-echo-failure", policy.DefaultEchoFailure, "unanswered LCP echoes before a session counts as lost")
		timeout     = fs.Duration("timeout", DefaultSetupTimeout, "setup timeout of one session")
		progress    = fs.Duration("progress", DefaultProgress, "interval of progress lines on stderr (0: none)")
		debug       = fs.Bool("debug", false, "log every session's protocol messages on stderr")
	)
	var pos []string
	rest := args
	for {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				printUsage(fs, out)
				return Config{}, err
			}
			return Config{}, usageErr("%v", err)
		}
		rest = fs.Args()
		if len(rest) == 0 {
			break
		}
		pos = append(pos, rest[0])
		rest = rest[1:]
	}
	if len(pos) != 1 {
		return Config{}, usageErr("want exactly one SERVER argument, got %d", len(pos))
	}
	srv, err := ParseServer(pos[0])
	if err != nil {
		return Config{}, usageErr("%v", err)
	}
	cfg := Config{Server: srv, Sessions: *n, Rate: *rate, Concurrency: *conc, Hold: *hold, Ping: *ping,
		PingTimeout: *pingTimeout, EchoInterval: *echo, EchoFailure: *echoFail, SetupTimeout: *timeout,
		Progress: *progress, Debug: *debug}
	switch {
	case *n < 1:
		return Config{}, usageErr("-n must be at least 1")
	case *n > 1<<20:
		return Config{}, usageErr("-n %d is more than a process can hold", *n)
	case *rate < 0:
		return Config{}, usageErr("-rate must not be negative")
	case *conc < 1:
		return Config{}, usageErr("-concurrency must be at least 1")
	case *hold < 0, *ping < 0, *echo < 0, *progress < 0:
		return Config{}, usageErr("durations must not be negative")
	case *pingTimeout <= 0 || *timeout <= 0:
		return Config{}, usageErr("-ping-timeout and -timeout must be positive")
	case *echoFail < 1 && *echo > 0:
		return Config{}, usageErr("-lcp-echo-failure must be at least 1")
	}
	if cfg.MPPE, err = ParseMPPE(*mppe); err != nil {
		return Config{}, usageErr("%v", err)
	}
	switch {
	case *secrets != "" && (*user != "" || *password != ""):
		return Config{}, usageErr("give -secrets or -user/-password, not both")
	case *secrets != "":
		if cfg.Users, err = LoadUsers(*secrets); err != nil {
			return Config{}, usageErr("%v", err)
		}
	case *user == "":
		return Config{}, usageErr("no account: give -user and -password, or -secrets FILE")
	default:
		cfg.Users = []User{{Name: *user, Password: *password}}
	}
	if *source != "" {
		if cfg.Sources, err = ParseSources(*source); err != nil {
			return Config{}, usageErr("%v", err)
		}
	}
	return cfg, nil
}

func printUsage(fs *flag.FlagSet, out io.Writer) {
	if out == nil {
		return
	}
	io.WriteString(out, Usage)
	fs.SetOutput(out)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

// ParseServer parses SERVER[:PORT]: an IPv4 address (the generator resolves
// no names: it must not send anything outside the test network).
func ParseServer(s string) (netip.AddrPort, error) {
	host, port := s, pptp.Port
	if h, p, err := net.SplitHostPort(s); err == nil {
		n, err := strconv.Atoi(p)
		if err != nil || n <= 0 || n > 65535 {
			return netip.AddrPort{}, fmt.Errorf("bad port in %q", s)
		}
		host, port = h, n
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("SERVER must be an IPv4 address: %q", host)
	}
	a = a.Unmap()
	if !a.Is4() || a.IsUnspecified() {
		return netip.AddrPort{}, fmt.Errorf("SERVER must be an IPv4 address: %q", host)
	}
	return netip.AddrPortFrom(a, uint16(port)), nil
}

// ParseMPPE maps -mppe to the CCP configuration: 128 and 40 require that
// key length, none turns MPPE off.
func ParseMPPE(s string) (ccp.Config, error) {
	switch s {
	case "128":
		return ccp.Config{Allow128: true, Required: true}, nil
	case "40":
		return ccp.Config{Allow40: true, Required: true}, nil
	case "none":
		return ccp.Config{}, nil
	}
	return ccp.Config{}, fmt.Errorf("-mppe must be 128, 40 or none, not %q", s)
}

// ParseSources parses -source: IPv4 addresses, ranges and blocks in
// pptpd.conf's syntax.
func ParseSources(s string) ([]netip.Addr, error) {
	l, err := config.ParseAddrList(s)
	if err != nil {
		return nil, fmt.Errorf("-source: %v", err)
	}
	if n := l.Len(); n > 4096 {
		return nil, fmt.Errorf("-source: %d addresses; at most 4096", n)
	}
	var out []netip.Addr
	for _, a := range l.All() {
		if !a.Is4() {
			return nil, fmt.Errorf("-source: %v is not IPv4", a)
		}
		out = append(out, a)
	}
	return out, nil
}

// LoadUsers reads the accounts of a chap-secrets file: every entry with a
// client name and a password (entries for "*" clients are skipped).
func LoadUsers(path string) ([]User, error) {
	s, err := config.LoadSecrets(path)
	if err != nil {
		return nil, err
	}
	var out []User
	for _, e := range s.Entries() {
		if e.Client == "*" || e.Client == "" {
			continue
		}
		out = append(out, User{Name: e.Client, Password: string(e.Password)})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no entry with a client name", path)
	}
	return out, nil
}
