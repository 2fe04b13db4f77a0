package radius

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Standard ports (RFC 2865, RFC 2866, RFC 5176).
const (
	DefaultAuthPort = 1812
	DefaultAcctPort = 1813
	DefaultDAEPort  = 3799
)

// Defaults applied by NewClient to zero Config fields.
const (
	// DefaultTimeout is how long one transmission waits for its reply.
	DefaultTimeout = 3 * time.Second
	// DefaultRetries is how many times a request is sent again to the
	// same server before the next one is tried.
	DefaultRetries = 2
	// DefaultDeadTime is how long a server that did not answer is tried
	// only after the others.
	DefaultDeadTime = 30 * time.Second
	// DefaultMaxWait bounds one request over all servers and attempts. A
	// PPP peer waits for its login while the RADIUS servers are tried, so
	// an outage must end in a refusal, not an endless wait.
	DefaultMaxWait = 30 * time.Second
)

// MinInterimInterval is the shortest Acct-Interim-Interval a RADIUS server
// may impose (RFC 2869 section 5.16 says it should not be under 60 s, and
// pppd raises smaller values to it).
const MinInterimInterval = 60 * time.Second

// Server is one RADIUS server.
type Server struct {
	// Addr is "host:port".
	Addr string
	// Secret is the shared secret.
	Secret string
	// Timeout and Retries override Config.Timeout and Config.Retries for
	// this server when non-zero (negative Retries: none).
	Timeout time.Duration
	Retries int
}

// DAEConfig configures the Dynamic Authorization listener (RFC 5176).
type DAEConfig struct {
	// Listen is the UDP "addr:port" to listen on; empty disables it.
	Listen string
	// Secret is the shared secret of the DAE clients. Empty: the secret of
	// the first authentication server.
	Secret string
	// Clients are the addresses requests are taken from. Empty: the
	// addresses of the configured authentication and accounting servers.
	Clients []netip.Prefix
}

// Observation is one exchange with one server, for metrics.
type Observation struct {
	Server  string // Addr of the server
	Kind    Kind
	Outcome Outcome
	// Latency is the time from the first transmission to the reply, or
	// until the server was given up.
	Latency time.Duration
	// Retransmits counts transmissions after the first.
	Retransmits int
}

// Kind says what a server is for.
type Kind string

// Kinds of server.
const (
	KindAuth Kind = "auth"
	KindAcct Kind = "acct"
)

// Outcome is how an exchange with one server ended.
type Outcome string

// Outcomes of an exchange.
const (
	OutcomeAccept    Outcome = "accept"    // Access-Accept
	OutcomeReject    Outcome = "reject"    // Access-Reject
	OutcomeChallenge Outcome = "challenge" // Access-Challenge
	OutcomeResponse  Outcome = "response"  // Accounting-Response
	OutcomeTimeout   Outcome = "timeout"   // no valid reply in time
	OutcomeError     Outcome = "error"     // the server could not be reached
	OutcomeCanceled  Outcome = "canceled"  // the caller gave up
)

// Config is the RADIUS configuration of a NAS.
type Config struct {
	// AuthServers are tried in order for Access-Requests; AcctServers for
	// Accounting-Requests (none disables accounting).
	AuthServers []Server
	AcctServers []Server
	// Timeout is how long one transmission waits for its reply; Retries
	// how many times it is repeated before failing over to the next
	// server (radius_timeout and radius_retries). Zero means the default;
	// negative Retries means none.
	Timeout time.Duration
	Retries int
	// DeadTime is how long a server that did not answer is tried only
	// after the others, and then only once per request (radius_deadtime).
	// Negative disables the marking.
	DeadTime time.Duration
	// MaxWait bounds a whole request, over all servers and attempts.
	MaxWait time.Duration
	// RequireMessageAuthenticator drops Access-Accept, -Reject and
	// -Challenge replies without a Message-Authenticator (the defence
	// against forged replies of CVE-2024-3596) instead of only checking
	// the attribute when it is present.
	RequireMessageAuthenticator bool

	// NASIdentifier and NASIPAddress identify us in every request. With
	// neither, the host name is sent as NAS-Identifier, since RFC 2865
	// requires one of them.
	NASIdentifier string
	NASIPAddress  netip.Addr
	// DefaultRealm, when set, is appended as "@realm" to user names
	// without an '@' in Access-Requests (and so in accounting), as pppd's
	// radius plugin does with default_realm.
	DefaultRealm string
	// BindAddr is the local address requests are sent from (bindaddr);
	// invalid lets the kernel choose.
	BindAddr netip.Addr
	// CalledStationID is sent as Called-Station-Id unless a Call names
	// its own (normally the address the PPTP client connected to).
	CalledStationID string
	// InterimInterval is the Interim-Update interval when the server's
	// Access-Accept sets none; 0 sends no interim updates.
	InterimInterval time.Duration

	// DAE configures the Dynamic Authorization listener.
	DAE DAEConfig

	// Log receives outage and recovery reports; nil: slog.Default().
	Log *slog.Logger
	// Observe, when set, is called after every exchange with a server,
	// from the requesting goroutine (for latency histograms). It must not
	// block.
	Observe func(Observation)

	// Warnings lists what LoadRadiusclientConf accepted but ignored, for
	// the caller to log.
	Warnings []string
}

// Validate checks that c can be used: at least one authentication server,
// every server with a host, a port and a secret.
func (c *Config) Validate() error {
	if len(c.AuthServers) == 0 {
		return errors.New("radius: no authentication server")
	}
	check := func(kind string, ss []Server) error {
		for _, s := range ss {
			if _, _, err := net.SplitHostPort(s.Addr); err != nil {
				return fmt.Errorf("radius: %s server %q: %w", kind, s.Addr, err)
			}
			if s.Secret == "" {
				return fmt.Errorf("radius: %s server %s: no secret", kind, s.Addr)
			}
		}
		return nil
	}
	if err := check("authentication", c.AuthServers); err != nil {
		return err
	}
	if err := check("accounting", c.AcctServers); err != nil {
		return err
	}
	if c.DAE.Listen != "" {
		if _, err := netip.ParseAddrPort(c.DAE.Listen); err != nil {
			return fmt.Errorf("radius: DAE listen address %q: %w", c.DAE.Listen, err)
		}
	}
	if len(c.NASIdentifier) > 253 || len(c.CalledStationID) > 253 {
		return errors.New("radius: NAS-Identifier or Called-Station-Id longer than 253 bytes")
	}
	return nil
}

// ParseHostPort turns "host", "host:port", "[v6]", "[v6]:port" or a bare
// IPv6 address into "host:port", with defaultPort when none is given.
func ParseHostPort(s string, defaultPort int) (string, error) {
	if s == "" {
		return "", errors.New("empty server address")
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.AddrPortFrom(a, uint16(defaultPort)).String(), nil
	}
	host, port := s, ""
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return "", fmt.Errorf("%q: missing ']'", s)
		}
		host = s[1:end]
		switch rest := s[end+1:]; {
		case rest == "":
		case rest[0] == ':':
			port = rest[1:]
		default:
			return "", fmt.Errorf("%q: junk after ']'", s)
		}
	} else if i := strings.LastIndexByte(s, ':'); i >= 0 {
		host, port = s[:i], s[i+1:]
	}
	if host == "" || strings.ContainsAny(host, " \t/[]") {
		return "", fmt.Errorf("%q: bad host", s)
	}
	p := defaultPort
	if port != "" {
		n, err := strconv.ParseUint(port, 10, 16)
		if err != nil || n == 0 {
			return "", fmt.Errorf("%q: bad port %q", s, port)
		}
		p = int(n)
	}
	return net.JoinHostPort(host, strconv.Itoa(p)), nil
}

// Options are pptpd's direct RADIUS options, for set-ups without a
// radiusclient.conf.
type Options struct {
	// Servers are the radius-server values ("HOST[:PORT]", port 1812 by
	// default), tried in order.
	Servers []string
	// AcctServers are the radius-acct-server values (port 1813 by
	// default). None: the hosts of Servers on port 1813.
	AcctServers []string
	// Secret is radius-secret, shared by all servers.
	Secret string
	// NASIdentifier is radius-nas-identifier.
	NASIdentifier string
	// InterimInterval is radius-acct-interim.
	InterimInterval time.Duration
	// DAEListen is radius-dae-listen ("ADDR[:PORT]", port 3799 by
	// default).
	DAEListen string
}

// FromOptions builds a Config from pptpd's direct options.
func FromOptions(o Options) (Config, error) {
	var c Config
	if o.Secret == "" {
		return c, errors.New("radius: radius-secret is required")
	}
	for _, s := range o.Servers {
		a, err := ParseHostPort(s, DefaultAuthPort)
		if err != nil {
			return c, fmt.Errorf("radius-server: %w", err)
		}
		c.AuthServers = append(c.AuthServers, Server{Addr: a, Secret: o.Secret})
	}
	for _, s := range o.AcctServers {
		a, err := ParseHostPort(s, DefaultAcctPort)
		if err != nil {
			return c, fmt.Errorf("radius-acct-server: %w", err)
		}
		c.AcctServers = append(c.AcctServers, Server{Addr: a, Secret: o.Secret})
	}
	if len(o.AcctServers) == 0 {
		// Most set-ups run both services on one host, on the standard
		// port pair.
		for _, s := range c.AuthServers {
			host, _, _ := net.SplitHostPort(s.Addr)
			c.AcctServers = append(c.AcctServers, Server{Addr: net.JoinHostPort(host, strconv.Itoa(DefaultAcctPort)), Secret: o.Secret})
		}
	}
	if o.InterimInterval < 0 {
		return c, errors.New("radius-acct-interim: negative interval")
	}
	c.NASIdentifier = o.NASIdentifier
	c.InterimInterval = o.InterimInterval
	if o.DAEListen != "" {
		ap, err := netip.ParseAddrPort(o.DAEListen)
		if err != nil {
			a, aerr := netip.ParseAddr(strings.Trim(o.DAEListen, "[]"))
			if aerr != nil {
				return c, fmt.Errorf("radius-dae-listen %q: want ADDR[:PORT]: %w", o.DAEListen, err)
			}
			ap = netip.AddrPortFrom(a, DefaultDAEPort)
		}
		c.DAE.Listen = ap.String()
	}
	return c, c.Validate()
}
