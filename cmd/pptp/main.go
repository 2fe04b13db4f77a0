// Command pptp is a PPTP VPN client that does the work of pptp-linux and
// pppd together, with PPP in user space over a TUN device.
//
//	pptp SERVER [pppd options]
//	pptp call NAME [pppd options]
//	pptp status [-json] [-s SOCKET] [NAME]
//	pptp SERVER --nolaunchpppd [pptp-linux options]   (pppd's pty)
//
// The options are pppd's: name USER, password PASS, remotename NAME,
// require-mppe-128, require-mppe-40, mppe-stateful, nomppe,
// refuse-pap/-chap/-mschap/-mschap-v2, ifname NAME, mtu N, mru N,
// defaultroute, replacedefaultroute, usepeerdns, persist, maxfail N,
// holdoff N, ipparam, linkname, ip-up-script, ip-down-script, nodetach,
// lcp-echo-interval N, ... Like pppd it answers whichever authentication
// the server asks for unless refused, and requires MPPE-128 unless given
// nomppe or require-mppe-40. Our extensions: route PREFIX (split tunnel),
// socks5 ADDR:PORT and http-proxy ADDR:PORT (rootless mode, no TUN
// device), control-socket PATH, resolv-conf PATH and pptp-server HOST.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gopptp/gopptp/client"
	"github.com/gopptp/gopptp/config"
	"github.com/gopptp/gopptp/internal/logging"
	"github.com/gopptp/gopptp/internal/policy"
	"github.com/gopptp/gopptp/internal/prof"
)

const usage = `usage: pptp SERVER [pppd options]
       pptp call NAME [pppd options]     (options from /etc/ppp/peers/NAME)
       pptp status [-json] [-s SOCKET] [NAME]
       pptp SERVER --nolaunchpppd [pptp-linux options]  (run by pppd as its pty)

Connects to the PPTP server SERVER (host name or IPv4 address) and brings up
a point-to-point interface (ppp0 unless "ifname NAME") with the addresses
the server assigns. Common options:
  name USER | user USER    the user name to log in with
  password PASS            the password (else looked up in chap-secrets)
  remotename NAME          the server's name in the secrets file
  require-mppe-128         require 128-bit MPPE (the default)
  require-mppe-40          accept 40-bit MPPE too
  mppe-stateful            allow stateful MPPE
  nomppe                   no encryption (only if the server allows it)
  refuse-pap, refuse-chap, refuse-mschap, refuse-mschap-v2
  ifname NAME, mtu N, mru N, debug
Routes and DNS:
  defaultroute             default route through the tunnel if there is none
  replacedefaultroute      with defaultroute: override the existing one
  route PREFIX             route PREFIX (10.0.0.0/8) through the tunnel;
                           repeatable (a split tunnel)
  usepeerdns               use the server's DNS servers (systemd-resolved
                           or resolv.conf, restored on exit)
  +ipv6                    IPv6 too (IPV6CP, then the server's router
                           advertisement gives the address)
  defaultroute6            with +ipv6: an IPv6 default route through the tunnel
  resolv-conf PATH         the file usepeerdns rewrites (/etc/resolv.conf)
Reconnecting and scripts:
  persist                  connect again when the link drops
  holdoff N                wait N seconds first (default 30)
  maxfail N                give up after N failed attempts in a row (10; 0: never)
  ip-up-script PATH, ip-down-script PATH  (/etc/ppp/ip-up, /etc/ppp/ip-down)
  ipparam TEXT, linkname NAME
Rootless mode (no TUN device; only CAP_NET_RAW needed):
  socks5 ADDR:PORT         serve a SOCKS5 proxy into the remote network
  http-proxy ADDR:PORT     serve an HTTP proxy into the remote network
Status:
  control-socket PATH      where "pptp status" finds this client
  nodetach                 accepted: pptp always stays in the foreground
SIGINT or SIGTERM ends the session cleanly; SIGHUP hangs up and, with
persist, connects again.
`

// peersDirEnv overrides /etc/ppp/peers, where "call NAME" reads NAME.
const peersDirEnv = "GOPPTP_PEERS_DIR"

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(os.Stderr, usage)
		if len(args) == 0 {
			return client.ExitOptionError
		}
		return 0
	}
	if args[0] == "status" {
		return runStatus(args[1:], os.Stdout, os.Stderr)
	}
	if isPtyMode(args) {
		// pppd's pty, as pptp-linux: stdout carries PPP, not text.
		return runPty(args, os.Stdin, os.Stdout, os.Stderr)
	}
	inv, err := parseArgs(args, os.Getenv(peersDirEnv))
	if err != nil {
		fmt.Fprintf(os.Stderr, "pptp: %v\n", err)
		if errors.Is(err, errUsage) {
			fmt.Fprintf(os.Stderr, "\n%s", usage)
		}
		return client.ExitOptionError
	}
	opts := inv.opts
	level := slog.LevelInfo
	if opts.Debug > 0 {
		level = slog.LevelDebug
	}
	log := logging.New(os.Stderr, level, "text")
	for _, w := range inv.warns {
		log.Warn(w.String())
	}
	cfg, err := clientConfig(inv, log)
	if err != nil {
		fmt.Fprintf(os.Stderr, "pptp: %v\n", err)
		return client.ExitOptionError
	}
	cfg.Log = log
	if os.Geteuid() != 0 && !opts.Client.ProxyMode() {
		log.Warn("not running as root: creating the TUN device and the raw GRE socket need CAP_NET_ADMIN and CAP_NET_RAW (rootless mode, with socks5 or http-proxy, needs only CAP_NET_RAW)")
	}
	defer prof.Start()()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	// SIGHUP hangs up, as with pppd: with persist the client connects
	// again, without it the client ends.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	cl := client.New(cfg)
	hctx, hcancel := context.WithCancel(ctx)
	defer hcancel()
	var hungUp atomic.Bool
	go func() {
		for {
			select {
			case <-hup:
				if !cfg.Persist {
					hungUp.Store(true)
					hcancel()
					return
				}
				cl.Hangup()
			case <-hctx.Done():
				return
			}
		}
	}()
	err = cl.Run(hctx)
	if err == nil && hungUp.Load() && ctx.Err() == nil {
		// pppd's exit status for a hang-up.
		log.Info("connection terminated: hung up (SIGHUP)")
		return client.ExitHangup
	}
	if err == nil {
		log.Info("connection terminated")
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

// errUsage marks command lines that are wrong as a whole.
var errUsage = errors.New("usage")

// invocation is a parsed command line.
type invocation struct {
	server   string // as given, or from the options
	callName string // NAME of a leading "call NAME"
	opts     *config.PPPOptions
	warns    []config.Warning
}

// parseArgs reads "SERVER [options]" or "call NAME [options]"; peersDir,
// when set, replaces /etc/ppp/peers.
func parseArgs(args []string, peersDir string) (*invocation, error) {
	inv := &invocation{opts: config.NewPPPOptions()}
	if peersDir != "" {
		inv.opts.SetPeersDir(peersDir)
	}
	words := args
	switch {
	case args[0] == "call":
		if len(args) < 2 {
			return nil, fmt.Errorf("%w: call needs the NAME of a file in %s", errUsage, inv.opts.PeersDir())
		}
		inv.callName = args[1]
	case strings.HasPrefix(args[0], "-"):
		return nil, fmt.Errorf("%w: the first argument must be the server, not %q", errUsage, args[0])
	default:
		inv.server, words = args[0], args[1:]
	}
	warns, err := inv.opts.ApplyWords(words, "command line")
	if err != nil {
		return nil, err
	}
	inv.warns = warns
	if inv.server == "" {
		inv.server = inv.opts.Client.Server
	}
	if inv.server == "" && inv.opts.Client.Pty != "" {
		s, ok := serverFromPty(inv.opts.Client.Pty)
		if !ok {
			return nil, fmt.Errorf("no server: the pty option (%q) is not a pptp command with a server; give pptp-server HOST", inv.opts.Client.Pty)
		}
		inv.server = s
		// The pty line did its job: it is not "ignored".
		inv.warns = dropWarningAt(inv.warns, inv.opts, "pty")
	}
	if inv.server == "" {
		return nil, fmt.Errorf("%w: no server: give it as the first argument, or pptp-server HOST (or a pptp-linux pty line) in the peers file", errUsage)
	}
	return inv, nil
}

// dropWarningAt removes the warning about option, if any.
func dropWarningAt(ws []config.Warning, o *config.PPPOptions, option string) []config.Warning {
	pos, ok := o.Where(option)
	if !ok {
		return ws
	}
	var out []config.Warning
	for _, w := range ws {
		if w.Pos != pos {
			out = append(out, w)
		}
	}
	return out
}

// linkName names the link for the status socket, ip-up's $LINKNAME
// aside: linkname, else the call name, else the interface (or "proxy" in
// rootless mode).
func linkName(inv *invocation) string {
	o := inv.opts
	switch {
	case o.LinkName != "":
		return o.LinkName
	case inv.callName != "":
		return inv.callName
	case o.Client.ProxyMode() && o.IfName == "":
		return "proxy"
	case o.IfName != "":
		return o.IfName
	}
	return "ppp0"
}

func clientConfig(inv *invocation, log *slog.Logger) (client.Config, error) {
	o := inv.opts
	pol, err := o.ClientPolicy()
	if err != nil {
		return client.Config{}, err
	}
	user := o.ClientUser()
	if user == "" {
		return client.Config{}, errors.New("no user name: give \"name USER\" (or \"user USER\")")
	}
	pass := string(o.Password)
	if pass == "" {
		pass, err = secretFor(o, user)
		if err != nil {
			return client.Config{}, err
		}
	}
	name := linkName(inv)
	sock := o.Client.ControlSocket
	if sock == "" {
		if sock, err = defaultSocket(name); err != nil {
			log.Warn("no status socket", "err", err)
		}
	}
	proxyMode := o.Client.ProxyMode()
	if proxyMode {
		for _, opt := range []string{"defaultroute", "replacedefaultroute", "route", "usepeerdns", "ip-up-script", "ip-down-script"} {
			if o.IsSet(opt) {
				log.Warn(opt + " has no effect in rootless mode (socks5, http-proxy): there is no interface")
			}
		}
	}
	if o.ReplaceDefaultRoute && !o.DefaultRoute {
		log.Warn("replacedefaultroute does nothing without defaultroute (as in pppd)")
	}
	dns := client.DNSConfig{ResolvConf: o.Client.ResolvConf}
	if !proxyMode && o.UsePeerDNS {
		// An explicit resolv-conf is what the user wants changed, even
		// where systemd-resolved runs.
		dns.Resolved = !o.IsSet("resolv-conf") && client.ResolvedRunning()
		// pppd writes /etc/ppp/resolv.conf for the ip-up scripts.
		if st, err := os.Stat("/etc/ppp"); err == nil && st.IsDir() {
			dns.PPPResolvConf = "/etc/ppp/resolv.conf"
		}
	}
	peer := o.RemoteName
	if peer == "" {
		peer = inv.server
	}
	up, down := o.IPUpScript, o.IPDownScript
	if up == "" {
		up = client.DefaultIPUp
	}
	if down == "" {
		down = client.DefaultIPDown
	}
	echo, failures, fsm := policy.LCP(o)
	return client.Config{
		Server:              inv.server,
		User:                user,
		Password:            pass,
		Accept:              policy.AuthMethods(pol.Auth),
		MPPE:                policy.MPPE(pol.MPPE),
		IfName:              o.IfName,
		MTU:                 o.MTU,
		MRU:                 o.MRU,
		LocalIP:             o.LocalIP,
		RemoteIP:            o.RemoteIP,
		DefaultRoute:        o.DefaultRoute,
		ReplaceDefaultRoute: o.ReplaceDefaultRoute,
		Routes:              o.Client.Routes,
		UsePeerDNS:          o.UsePeerDNS,
		IPv6:                o.IPv6,
		DefaultRoute6:       o.DefaultRoute6,
		DNS:                 dns,
		Scripts: client.Scripts{Up: up, Down: down, IPParam: o.IPParam, LinkName: o.LinkName,
			PeerName: peer, CallFile: inv.callName, UsePeerDNS: o.UsePeerDNS},
		TCPMSSClamp:   o.TCPMSSClamp,
		EchoInterval:  echo,
		EchoFailure:   failures,
		FSM:           fsm,
		Persist:       o.Persist,
		MaxFail:       o.MaxFail,
		Holdoff:       time.Duration(o.Holdoff) * time.Second,
		SOCKS5:        o.Client.SOCKS5,
		HTTPProxy:     o.Client.HTTPProxy,
		Name:          name,
		ControlSocket: sock,
	}, nil
}

// socketDir is where clients put their status sockets by default: a
// directory of root's under /run, or the user's runtime directory.
func socketDir() (string, error) {
	if os.Geteuid() == 0 {
		return "/run/gopptp", nil
	}
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "gopptp"), nil
	}
	// A directory in /tmp must be ours alone: someone else's could
	// serve a fake status.
	d := filepath.Join(os.TempDir(), "gopptp-"+strconv.Itoa(os.Getuid()))
	if err := os.MkdirAll(d, 0o700); err != nil {
		return "", err
	}
	st, err := os.Lstat(d)
	if err != nil {
		return "", err
	}
	if s, ok := st.Sys().(*syscall.Stat_t); !ok || int(s.Uid) != os.Getuid() || !st.IsDir() || st.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("%s is not a private directory of this user", d)
	}
	return d, nil
}

// defaultSocket is the status socket of the link name.
func defaultSocket(name string) (string, error) {
	if strings.ContainsAny(name, "/\x00") {
		return "", fmt.Errorf("link name %q cannot name a socket", name)
	}
	d, err := socketDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "pptp-"+name+".sock"), nil
}

// secretFor finds our password in chap-secrets (then pap-secrets), as pppd
// does for a client: the line whose client column is our name and whose
// server column is remotename (or any server).
func secretFor(o *config.PPPOptions, user string) (string, error) {
	for _, path := range []string{o.CHAPSecrets, o.PAPSecrets} {
		s, err := config.LoadSecrets(path)
		if err != nil {
			continue
		}
		var e config.Secret
		var ok bool
		if o.RemoteName != "" {
			e, ok = s.Lookup(user, o.RemoteName)
		} else {
			e, ok = s.LookupAnyServer(user)
		}
		if ok {
			return string(e.Password), nil
		}
	}
	return "", fmt.Errorf("no password: give \"password PASS\" or add a line for %q to %s", user, o.CHAPSecrets)
}
