package client

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"strings"
	"time"

	"github.com/gopptp/gopptp/session"
)

// Default paths of pppd's scripts.
const (
	DefaultIPUp   = "/etc/ppp/ip-up"
	DefaultIPDown = "/etc/ppp/ip-down"
)

// scriptTimeout bounds one script: pppd waits for its scripts, but a hung
// one must not keep the link from going down.
const scriptTimeout = 30 * time.Second

// Scripts are pppd's ip-up and ip-down, run with pppd's arguments
// (interface, tty, speed, local address, remote address, ipparam) and
// environment.
type Scripts struct {
	// Up and Down are the programs; empty, or a path where there is no
	// file, runs nothing (as pppd, which skips a missing script).
	Up, Down string
	// IPParam is pppd's ipparam: the sixth argument and $IPPARAM.
	IPParam string
	// LinkName is pppd's linkname ($LINKNAME).
	LinkName string
	// PeerName is $PEERNAME: the server's name (remotename, else the
	// server as given).
	PeerName string
	// CallFile is $CALL_FILE: the NAME of "call NAME".
	CallFile string
	// UsePeerDNS sets $USEPEERDNS when the server gave DNS servers.
	UsePeerDNS bool
}

// Values of the tty and speed arguments: PPTP has neither a tty nor a
// line speed.
const (
	scriptTTY   = "pptp"
	scriptSpeed = "0"
)

// scriptRun is one ip-up, whose end ip-down waits for (as pppd does).
type scriptRun struct {
	done chan struct{}
}

// scriptEnv builds the environment pppd gives its scripts: a fixed PATH
// and the link's description, nothing inherited.
func (s *Scripts) scriptEnv(ifname string, i session.Info) []string {
	env := []string{
		"PATH=/usr/local/sbin:/usr/sbin:/usr/local/bin:/usr/bin:/sbin:/bin",
		"IFNAME=" + ifname,
		"DEVICE=" + scriptTTY,
		"SPEED=" + scriptSpeed,
		"IPLOCAL=" + i.Local.String(),
		"IPREMOTE=" + i.Peer.String(),
		"PPPD_PID=" + strconv.Itoa(os.Getpid()),
		"ORIG_UID=" + strconv.Itoa(os.Getuid()),
	}
	if u, err := user.Current(); err == nil {
		env = append(env, "PPPLOGNAME="+u.Username)
	}
	if s.PeerName != "" {
		env = append(env, "PEERNAME="+s.PeerName)
	}
	if s.LinkName != "" {
		env = append(env, "LINKNAME="+s.LinkName)
	}
	if s.IPParam != "" {
		env = append(env, "IPPARAM="+s.IPParam)
	}
	if s.CallFile != "" {
		env = append(env, "CALL_FILE="+s.CallFile)
	}
	for n, d := range i.DNS {
		env = append(env, "DNS"+strconv.Itoa(n+1)+"="+d.String())
	}
	if s.UsePeerDNS && len(i.DNS) > 0 {
		env = append(env, "USEPEERDNS=1")
	}
	return env
}

func (s *Scripts) args(ifname string, i session.Info) []string {
	return []string{ifname, scriptTTY, scriptSpeed, i.Local.String(), i.Peer.String(), s.IPParam}
}

// runUp starts ip-up and returns at once: the session goes on while it
// runs, as with pppd.
func (s *Scripts) runUp(log *slog.Logger, ifname string, i session.Info) *scriptRun {
	r := &scriptRun{done: make(chan struct{})}
	go func() {
		defer close(r.done)
		runScript(log, s.Up, s.args(ifname, i), s.scriptEnv(ifname, i))
	}()
	return r
}

// linkStats are the ip-down script's accounting of the session.
type linkStats struct {
	connect        time.Duration
	sent, received uint64
}

// runDown waits for ip-up (a script must not see the link go down before
// it saw it come up), then runs ip-down and waits for it.
func (s *Scripts) runDown(log *slog.Logger, up *scriptRun, ifname string, i session.Info, st linkStats) {
	if up != nil {
		select {
		case <-up.done:
		case <-time.After(scriptTimeout):
			log.Warn("ip-up still running; running ip-down anyway")
		}
	}
	env := append(s.scriptEnv(ifname, i),
		"CONNECT_TIME="+strconv.Itoa(int(st.connect.Seconds())),
		"BYTES_SENT="+strconv.FormatUint(st.sent, 10),
		"BYTES_RCVD="+strconv.FormatUint(st.received, 10))
	runScript(log, s.Down, s.args(ifname, i), env)
}

// runScript runs path with args and env, if path names a file, and logs
// how it went.
func runScript(log *slog.Logger, path string, args, env []string) {
	if path == "" {
		return
	}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		log.Debug("no script", "path", path)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), scriptTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = env
	cmd.Dir = "/"
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// A script that leaves a child holding the output open must not
	// keep us waiting past the timeout.
	cmd.WaitDelay = time.Second
	start := time.Now()
	err := cmd.Run()
	text := strings.TrimSpace(out.String())
	if err != nil {
		log.Warn("script failed", "script", path, "err", err, "output", text)
		return
	}
	log.Debug("script done", "script", path, "took", time.Since(start).Round(time.Millisecond), "output", text)
}
