// Command pptpd is a PPTP VPN server, a drop-in replacement for PoPToP's
// pptpd together with the pppd it starts: it reads pptpd.conf, the pppd
// options file it names, and pppd's chap-secrets and pap-secrets.
//
//	pptpd [--conf FILE] [--option FILE] [--fg] [--debug]
//
// Without /etc/pptpd.conf it runs on poptop's defaults (listen on all
// addresses, localip 192.168.0.1, remoteip 192.168.0.234-238) and the
// strongest security settings (MS-CHAP-v2 and MPPE-128 required).
package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"log/syslog"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"runtime/debug"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gopptp/gopptp/config"
	"github.com/gopptp/gopptp/control"
	"github.com/gopptp/gopptp/internal/logging"
	"github.com/gopptp/gopptp/internal/policy"
	"github.com/gopptp/gopptp/internal/privs"
	"github.com/gopptp/gopptp/internal/prof"
	"github.com/gopptp/gopptp/ppp"
	"github.com/gopptp/gopptp/ppp/auth"
	"github.com/gopptp/gopptp/pptp"
	"github.com/gopptp/gopptp/radius"
	"github.com/gopptp/gopptp/server"
)

const defaultConf = "/etc/pptpd.conf"

// daemonEnv marks the re-executed background child.
const daemonEnv = "GOPPTP_PPTPD_DAEMON"

// gcPercent is pptpd's GOGC unless the environment sets one. A server
// holding thousands of long-lived sessions has a heap that is mostly live,
// and its resident memory follows the GC's heap goal, which the default of
// 100 puts at twice the live heap and goroutine stacks. Half that headroom
// saves about 2 KiB per idle session (bench/sessions.sh with 10,000
// sessions) for a little more CPU while sessions are being set up, when
// most of the allocation happens.
const gcPercent = 50

func main() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(gcPercent)
	}
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	fl := flag.NewFlagSet("pptpd", flag.ContinueOnError)
	var conf, option string
	var fg, debug bool
	fl.StringVar(&conf, "conf", "", "pptpd.conf `file` (default "+defaultConf+")")
	fl.StringVar(&conf, "c", "", "short for --conf")
	fl.StringVar(&option, "option", "", "pppd options `file` (overrides pptpd.conf's option)")
	fl.StringVar(&option, "o", "", "short for --option")
	fl.BoolVar(&fg, "fg", false, "stay in the foreground and log to standard error")
	fl.BoolVar(&fg, "f", false, "short for --fg")
	fl.BoolVar(&debug, "debug", false, "log debug messages (every PPP packet)")
	fl.BoolVar(&debug, "d", false, "short for --debug")
	fl.Usage = func() {
		fmt.Fprintf(fl.Output(), "usage: pptpd [--conf FILE] [--option FILE] [--fg] [--debug]\n")
		fl.PrintDefaults()
	}
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fl.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "pptpd: unexpected argument %q\n", fl.Arg(0))
		return 2
	}

	pc, opts, warns, err := loadConfig(conf, option)
	if err != nil {
		fmt.Fprintf(os.Stderr, "pptpd: %v\n", err)
		return 2
	}
	if pc.Debug || opts.Debug > 0 {
		debug = true
	}
	if !fg && os.Getenv(daemonEnv) == "" {
		return daemonize(args)
	}
	log := newLogger(fg, debug, pc.LogFormat)
	slog.SetDefault(log)
	for _, w := range warns {
		log.Warn(w)
	}
	if pid := pidFile(pc, fg); pid != "" {
		if err := os.WriteFile(pid, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
			log.Warn("writing pid file", "file", pid, "err", err)
		} else {
			defer os.Remove(pid)
		}
	}
	d := &daemon{conf: conf, option: option, log: log, started: pc}
	cfg, err := d.serverConfig(pc, opts)
	if err != nil {
		log.Error(err.Error())
		return 1
	}
	srv, err := server.New(cfg)
	if err != nil {
		log.Error(err.Error())
		return 1
	}
	d.srv = srv
	defer prof.Start()()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if pc.MetricsListen != "" {
		if err := serveMetrics(ctx, pc.MetricsListen, srv.MetricsHandler(), log); err != nil {
			log.Error(err.Error())
			return 1
		}
	}
	sock := cmp.Or(pc.ControlSocket, control.DefaultSocket)
	if ln, err := control.Listen(sock); err != nil {
		// Several pptpd may run on one host (one per listen address);
		// only the first gets the default socket, and the others still
		// serve.
		log.Warn("no control socket: pptpctl cannot reach this pptpd (set control-socket in pptpd.conf)", "err", err)
	} else {
		defer os.Remove(sock)
		go control.Serve(ctx, ln, srv)
	}
	go d.reloadOnHangup(ctx)
	if err := srv.Run(ctx); err != nil {
		log.Error(err.Error())
		return 1
	}
	log.Info("pptpd stopped")
	return 0
}

// loadConfig reads pptpd.conf (or falls back to the defaults when the
// default file is absent) and the pppd options file.
func loadConfig(conf, option string) (*config.PptpdConfig, *config.PPPOptions, []string, error) {
	var warns []string
	pc := config.DefaultPptpdConfig()
	path := conf
	if path == "" {
		path = defaultConf
	}
	loaded, w, err := config.LoadPptpdConf(path)
	switch {
	case err == nil:
		pc = loaded
	case conf == "" && errors.Is(err, fs.ErrNotExist):
		warns = append(warns, "no "+defaultConf+": running on built-in defaults (localip 192.168.0.1, remoteip 192.168.0.234-238)")
	default:
		return nil, nil, nil, err
	}
	for _, x := range w {
		warns = append(warns, x.String())
	}
	if option == "" {
		option = pc.OptionFile
	}
	opts := config.NewPPPOptions()
	if option != "" {
		w, err := opts.ApplyFile(option)
		if err != nil {
			return nil, nil, nil, err
		}
		for _, x := range w {
			warns = append(warns, x.String())
		}
	}
	private := []string{opts.CHAPSecrets, opts.PAPSecrets}
	if opts.RADIUS.Secret != "" {
		private = append(private, option)
	}
	for _, p := range private {
		if w := config.CheckPrivate(p); w != "" {
			warns = append(warns, w)
		}
	}
	return pc, opts, warns, nil
}

// daemon holds what reloading needs: where the configuration came from and
// the server to hand the new one to.
type daemon struct {
	conf, option string
	log          *slog.Logger
	srv          *server.Server
	started      *config.PptpdConfig // what the server started with
	// generated is the made-up login of a server without secrets files;
	// reloading keeps it rather than inventing another password.
	generated auth.Verifier
}

// reloadOnHangup reloads the configuration on every SIGHUP, as pppd and
// poptop users expect.
func (d *daemon) reloadOnHangup(ctx context.Context) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			if err := d.reload(); err != nil {
				d.log.Error("reload failed; the running configuration stays", "err", err)
			}
		}
	}
}

// reload re-reads pptpd.conf, the options file and the secrets and hands
// the result to the server. Established sessions keep what they
// negotiated; what cannot change without a restart (listen address,
// device name, control socket, metrics listener) is reported and kept.
func (d *daemon) reload() error {
	pc, opts, warns, err := loadConfig(d.conf, d.option)
	if err != nil {
		return err
	}
	for _, w := range warns {
		d.log.Warn(w)
	}
	was := d.started
	for _, k := range []struct {
		key      string
		old, new any
	}{
		{"listen", was.Listen, pc.Listen}, {"tun-name", was.TunName, pc.TunName},
		{"control-socket", was.ControlSocket, pc.ControlSocket}, {"metrics-listen", was.MetricsListen, pc.MetricsListen},
		{"log-format", was.LogFormat, pc.LogFormat}, {"datapath-workers", was.Workers, pc.Workers},
	} {
		if k.old != k.new {
			d.log.Warn("reload: "+k.key+" changes only with a restart; keeping the running value", "running", fmt.Sprint(k.old), "configured", fmt.Sprint(k.new))
		}
	}
	cfg, err := d.serverConfig(pc, opts)
	if err != nil {
		return err
	}
	return d.srv.Reload(cfg)
}

func (d *daemon) serverConfig(pc *config.PptpdConfig, opts *config.PPPOptions) (server.Config, error) {
	log := d.log
	pol, err := opts.ServerPolicy()
	if err != nil {
		return server.Config{}, err
	}
	pool, err := server.NewPool(pc.LocalIP, pc.RemoteIP)
	if err != nil {
		return server.Config{}, err
	}
	// Without "listen", all addresses of both families (an empty host).
	listen := ""
	if pc.Listen.IsValid() {
		listen = pc.Listen.String()
	}
	name := opts.Name
	if name == "" {
		name, _ = os.Hostname()
	}
	echo, failures, fsm := policy.LCP(opts)
	cfg := server.Config{
		Listen:       net.JoinHostPort(listen, strconv.Itoa(pptp.Port)),
		Pool:         pool,
		MaxSessions:  pc.Connections,
		StartTimeout: pc.STimeout,
		TUNName:      pc.TunName,
		Workers:      pc.Workers,
		MTU:          opts.MTU,
		MRU:          opts.MRU,
		Name:         name,
		Auth:         policy.AuthMethods(pol.Auth),
		MPPE:         policy.MPPE(pol.MPPE),
		ProxyARP:     opts.ProxyARP,
		AuthRetries:  auth.DefaultRetries,
		TCPMSSClamp:  opts.TCPMSSClamp,
		EchoInterval: echo,
		EchoFailure:  failures,
		FSM:          fsm,
		Defense:      defense(pc),
		Ready:        func() error { dropPrivileges(log); return nil },
		Reload:       d.reload,
		Log:          log,
	}
	for i, a := range opts.MSDNS {
		if i < 2 {
			cfg.DNS[i] = a
		}
	}
	for i, a := range opts.MSWINS {
		if i < 2 {
			cfg.NBNS[i] = a
		}
	}
	if pool.Size() < pc.Connections {
		log.Info(fmt.Sprintf("maximum of %d connections reduced to %d, the size of the remoteip pool", pc.Connections, pool.Size()))
	}
	for name, l := range pc.Pools {
		pool.AddNamed(name, l)
	}
	cfg.FramedRoutes = pc.FramedRoutes
	cfg.IPv6, cfg.DNS6 = opts.IPv6, opts.MSDNS6
	switch {
	case pc.IPv6Prefix.IsValid() && opts.IPv6:
		if cfg.Pool6, err = server.NewPool6(pc.IPv6Prefix); err != nil {
			return server.Config{}, err
		}
	case pc.IPv6Prefix.IsValid():
		log.Warn("ipv6-prefix is ignored without +ipv6 in the options file")
	case opts.IPv6:
		log.Info("+ipv6 without ipv6-prefix in pptpd.conf: sessions get IPv6 link-local addresses only")
	}
	cfg.IdleTimeout = time.Duration(opts.Idle) * time.Second
	cfg.MaxConnect = time.Duration(opts.MaxConnect) * time.Second
	if cfg.RADIUS, err = radiusConfig(opts, log); err != nil {
		return server.Config{}, err
	}
	if cfg.RADIUS != nil {
		return cfg, nil
	}
	cfg.Verifier, err = d.secretsVerifier(opts, name)
	if err != nil {
		return server.Config{}, err
	}
	return cfg, nil
}

// radiusConfig reads the RADIUS set-up the options describe: the direct
// radius-server options, or pppd's radius plugin with its radiusclient.conf
// (to which radius-nas-identifier, radius-acct-interim and
// radius-dae-listen still apply). nil: local secrets files.
func radiusConfig(opts *config.PPPOptions, log *slog.Logger) (*radius.Config, error) {
	o := opts.RADIUS
	var rc radius.Config
	var err error
	switch opts.RADIUSMode() {
	case config.RADIUSOff:
		return nil, nil
	case config.RADIUSDirect:
		rc, err = radius.FromOptions(radius.Options{Servers: o.Servers, AcctServers: o.AcctServers, Secret: o.Secret,
			NASIdentifier: o.NASIdentifier, InterimInterval: o.AcctInterim, DAEListen: o.DAEListen})
		if err != nil {
			return nil, err
		}
	case config.RADIUSClientConf:
		file := cmp.Or(o.ConfigFile, config.DefaultRadiusclientConf)
		rc, err = radius.LoadRadiusclientConf(file)
		if err != nil {
			return nil, err
		}
		for _, w := range rc.Warnings {
			log.Warn(w)
		}
		if o.NASIdentifier != "" {
			rc.NASIdentifier = o.NASIdentifier
		}
		if o.AcctInterim > 0 {
			rc.InterimInterval = o.AcctInterim
		}
		if o.DAEListen != "" {
			if rc.DAE.Listen, err = radius.ParseHostPort(o.DAEListen, radius.DefaultDAEPort); err != nil {
				return nil, fmt.Errorf("radius-dae-listen: %w", err)
			}
		}
	}
	if err := rc.Validate(); err != nil {
		return nil, err
	}
	return &rc, nil
}

// secretsVerifier checks logins against chap-secrets and pap-secrets,
// read again at every login as pppd does, so edits apply at once. When
// neither file exists it makes up one user with a strong password and
// prints it once: the server is usable out of the box, but never with a
// guessable password.
func (d *daemon) secretsVerifier(opts *config.PPPOptions, name string) (auth.Verifier, error) {
	_, errC := os.Stat(opts.CHAPSecrets)
	_, errP := os.Stat(opts.PAPSecrets)
	if errors.Is(errC, fs.ErrNotExist) && errors.Is(errP, fs.ErrNotExist) {
		if d.generated != nil {
			return d.generated, nil
		}
		pass, err := randomPassword(20)
		if err != nil {
			return nil, err
		}
		const user = "vpn"
		fmt.Printf("No %s or %s: for this run, log in as\n  user:     %s\n  password: %s\n", opts.CHAPSecrets, opts.PAPSecrets, user, pass)
		d.log.Warn("no secrets file: generated a password for user " + user + " (printed on standard output); it lasts until pptpd stops")
		d.generated = auth.PasswordVerifier{Lookup: func(_ ppp.AuthMethod, u string) (auth.Secret, error) {
			if u != user {
				return auth.Secret{}, auth.ErrUnknownUser
			}
			return auth.Secret{Password: pass}, nil
		}}
		return d.generated, nil
	}
	return auth.PasswordVerifier{Lookup: func(m ppp.AuthMethod, user string) (auth.Secret, error) {
		path := opts.CHAPSecrets
		if m == ppp.AuthPAP {
			path = opts.PAPSecrets
		}
		s, err := config.LoadSecrets(path)
		if err != nil {
			return auth.Secret{}, err
		}
		if user == "" {
			return auth.Secret{}, auth.ErrUnknownUser
		}
		e, ok := s.Lookup(user, name)
		if !ok {
			return auth.Secret{}, auth.ErrUnknownUser
		}
		sec := auth.Secret{Password: string(e.Password)}
		if a, ok := e.Addrs.Suggested(); ok {
			sec.Addr = a
		}
		addrs := e.Addrs
		sec.Allowed = addrs.Allows
		return sec, nil
	}}, nil
}

func randomPassword(n int) (string, error) {
	const alphabet = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	b := make([]byte, n)
	for i := range b {
		k, err := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		if err != nil {
			return "", err
		}
		b[i] = alphabet[k.Int64()]
	}
	return string(b), nil
}

func pidFile(pc *config.PptpdConfig, fg bool) string {
	if pc.PIDFile != "" {
		return pc.PIDFile
	}
	if !fg {
		return "/var/run/pptpd.pid"
	}
	return ""
}

// dropPrivileges keeps only what serving needs once the listeners, raw
// socket and TUN device are open: CAP_NET_ADMIN for routes and proxy ARP,
// CAP_NET_RAW for the GRE socket. A server that cannot drop them still
// serves, and says so.
func dropPrivileges(log *slog.Logger) {
	if err := privs.Keep(unix.CAP_NET_ADMIN, unix.CAP_NET_RAW); err != nil {
		log.Warn("could not drop capabilities; running with all of them", "err", err)
		return
	}
	log.Debug("capabilities dropped but CAP_NET_ADMIN and CAP_NET_RAW")
}

// defense maps pptpd.conf's limits onto the built-in defaults: 0 keeps a
// default, -1 ("off") turns a limit off.
func defense(pc *config.PptpdConfig) server.Defense {
	d := server.DefaultDefense()
	set := func(dst *int, v int) {
		switch {
		case v < 0:
			*dst = 0
		case v > 0:
			*dst = v
		}
	}
	set(&d.MaxStarting, pc.MaxStarting)
	set(&d.MaxHalfOpen, pc.MaxHalfOpen)
	set(&d.LockoutFailures, pc.LockoutFailures)
	switch {
	case pc.ConnectionRate < 0:
		d.ConnRate = 0
	case pc.ConnectionRate > 0:
		// A burst of three seconds' worth lets a NAT of users reconnect
		// together after an outage.
		d.ConnRate, d.ConnBurst = float64(pc.ConnectionRate), 3*pc.ConnectionRate
	}
	if pc.LockoutTime > 0 {
		d.LockoutTime = pc.LockoutTime
		d.LockoutMax = max(d.LockoutMax, pc.LockoutTime)
	}
	return d
}

// serveMetrics starts the Prometheus endpoint; a listener that cannot
// open is an error at start, since it was asked for.
func serveMetrics(ctx context.Context, addr string, h http.Handler, log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("metrics-listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", h)
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		hs.Close()
	}()
	go func() {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics listener stopped", "err", err)
		}
	}()
	log.Info("metrics at http://" + ln.Addr().String() + "/metrics")
	return nil
}

func newLogger(fg, debug bool, format string) *slog.Logger {
	level := slog.LevelInfo
	if debug {
		level = slog.LevelDebug
	}
	var w io.Writer = os.Stderr
	if !fg {
		// In the background pptpd logs to syslog, as poptop does.
		if sl, err := syslog.New(syslog.LOG_DAEMON|syslog.LOG_INFO, "pptpd"); err == nil {
			w = sl
		} else {
			w = io.Discard
		}
	}
	return logging.New(w, level, format)
}

// daemonize starts a detached copy of ourselves and returns at once, as
// pptpd does without --fg. Go cannot fork, so the child is a new process.
func daemonize(args []string) int {
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(os.Stderr, "pptpd: %v\n", err)
		return 1
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), daemonEnv+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	// The child inherits stdout so a generated password is still shown.
	cmd.Stdout = os.Stdout
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "pptpd: starting in the background: %v\n", err)
		return 1
	}
	// Give the child a moment so a generated password line reaches the
	// terminal before the prompt returns.
	time.Sleep(200 * time.Millisecond)
	return 0
}
