// Command pptp is a PPTP VPN client that does the work of pptp-linux and
// pppd together, with PPP in user space over a TUN device.
//
//	pptp SERVER [pppd options]
//
// The options are pppd's: name USER, password PASS, remotename NAME,
// require-mppe-128, require-mppe-40, mppe-stateful, nomppe,
// refuse-pap/-chap/-mschap/-mschap-v2, ifname NAME, mtu N, mru N,
// defaultroute, usepeerdns, nodetach, lcp-echo-interval N, ... Like pppd it
// answers whichever authentication the server asks for unless refused, and
// requires MPPE-128 unless given nomppe or require-mppe-40.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/gopptp/gopptp/client"
	"github.com/gopptp/gopptp/config"
	"github.com/gopptp/gopptp/internal/logging"
	"github.com/gopptp/gopptp/internal/policy"
	"github.com/gopptp/gopptp/internal/prof"
)

const usage = `usage: pptp SERVER [pppd options]

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
  ifname NAME, mtu N, mru N, defaultroute, usepeerdns, debug
  nodetach                 accepted: pptp always stays in the foreground
SIGINT or SIGTERM ends the session cleanly.
`

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
	srv, words := args[0], args[1:]
	if strings.HasPrefix(srv, "-") {
		fmt.Fprintf(os.Stderr, "pptp: the first argument must be the server, not %q\n\n%s", srv, usage)
		return client.ExitOptionError
	}
	opts, warns, err := config.ParseOptionWords(words, "command line")
	if err != nil {
		fmt.Fprintf(os.Stderr, "pptp: %v\n", err)
		return client.ExitOptionError
	}
	level := slog.LevelInfo
	if opts.Debug > 0 {
		level = slog.LevelDebug
	}
	log := logging.New(os.Stderr, level, "text")
	for _, w := range warns {
		log.Warn(w.String())
	}
	cfg, err := clientConfig(srv, opts)
	if err != nil {
		fmt.Fprintf(os.Stderr, "pptp: %v\n", err)
		return client.ExitOptionError
	}
	cfg.Log = log
	if os.Geteuid() != 0 {
		log.Warn("not running as root: creating the TUN device and the raw GRE socket need CAP_NET_ADMIN and CAP_NET_RAW")
	}
	defer prof.Start()()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	err = client.New(cfg).Run(ctx)
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

func clientConfig(server string, o *config.PPPOptions) (client.Config, error) {
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
	echo, failures, fsm := policy.LCP(o)
	return client.Config{
		Server:       server,
		User:         user,
		Password:     pass,
		Accept:       policy.AuthMethods(pol.Auth),
		MPPE:         policy.MPPE(pol.MPPE),
		IfName:       o.IfName,
		MTU:          o.MTU,
		MRU:          o.MRU,
		LocalIP:      o.LocalIP,
		RemoteIP:     o.RemoteIP,
		DefaultRoute: o.DefaultRoute,
		UsePeerDNS:   o.UsePeerDNS,
		TCPMSSClamp:  o.TCPMSSClamp,
		EchoInterval: echo,
		EchoFailure:  failures,
		FSM:          fsm,
	}, nil
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
