package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gopptp/gopptp/internal/freeradius"
	"github.com/gopptp/gopptp/internal/netns"
)

const radiusSecret = "radius-test-secret"

// radiusUsers: alice for every method; bob with a fixed address and a
// short Session-Timeout; carol from a named pool.
var radiusUsers = fmt.Sprintf(`%s	Cleartext-Password := %q

bob	Cleartext-Password := "bob-password"
	Framed-IP-Address = 192.168.0.77,
	Session-Timeout = 3

carol	Cleartext-Password := "carol-password"
	Framed-Pool = "staff"
`, user, password)

// startRADIUS runs FreeRADIUS inside the server's namespace, on loopback
// and the standard ports.
func (tp *topo) startRADIUS(t *testing.T) *freeradius.Server {
	t.Helper()
	return freeradius.Start(t, freeradius.Options{Users: radiusUsers, Secret: radiusSecret,
		Command: tp.srv.Command, Ports: freeradius.StandardPorts})
}

// radiusClientConf writes what pptpd users already have for pppd's radius
// plugin: a radiusclient.conf and its servers file. servers come first in
// authserver, in order.
func (tp *topo) radiusClientConf(t *testing.T, servers ...string) string {
	t.Helper()
	conf := filepath.Join(tp.dir, "radiusclient.conf")
	write(t, filepath.Join(tp.dir, "servers"), "# server secret\n127.0.0.1 "+radiusSecret+"\n")
	write(t, conf, fmt.Sprintf(`# radiusclient.conf as pppd's radius plugin reads it
auth_order	radius
login_tries	4
login_timeout	60
nologin /etc/nologin
issue	/etc/radiusclient/issue
authserver	%s
acctserver	127.0.0.1:1813
servers		servers
dictionary	/etc/radiusclient/dictionary
login_radius	/usr/sbin/login.radius
seqfile		/var/run/radius.seq
mapfile		/etc/radiusclient/port-id-map
default_realm
radius_timeout	1
radius_retries	1
radius_deadtime	30
bindaddr *
`, strings.Join(servers, " ")))
	return conf
}

// acctRecords waits for the Start and Stop of one user's session and
// returns them.
func acctRecords(t *testing.T, fr *freeradius.Server, user string) (start, stop map[string][]string) {
	t.Helper()
	find := func(recs []map[string][]string) bool {
		start, stop = nil, nil
		for _, r := range recs {
			if first(r, "User-Name") != user {
				continue
			}
			switch first(r, "Acct-Status-Type") {
			case "Start":
				start = r
			case "Stop":
				stop = r
			}
		}
		return start != nil && stop != nil
	}
	fr.WaitRecords(t, find, 10*time.Second)
	return start, stop
}

func first(r map[string][]string, k string) string {
	if len(r[k]) == 0 {
		return ""
	}
	return r[k][0]
}

// TestRADIUSLogins logs in with each method through FreeRADIUS, configured
// the way pptpd users have it (plugin radius.so, radius-config-file), and
// checks the session's accounting in FreeRADIUS's detail file.
func TestRADIUSLogins(t *testing.T) {
	for _, tc := range []struct {
		name, auth, mppe string
		server           []string
	}{
		{"mschapv2", "MS-CHAP-v2", `mppe_send="MPPE-128 stateless"`, []string{"require-mschap-v2", "require-mppe-128"}},
		{"mschapv1", "MS-CHAP", `mppe_send="MPPE-128 stateless"`, []string{"require-mschap", "require-mppe-128"}},
		{"chapmd5", "CHAP-MD5", "mppe_send=none", []string{"require-chap", "nomppe"}},
		{"pap", "PAP", "mppe_send=none", []string{"require-pap", "nomppe"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tp := newTopo(t)
			fr := tp.startRADIUS(t)
			conf := tp.radiusClientConf(t, "127.0.0.1")
			srv := tp.startServer(t, append(tc.server, "plugin radius.so", "radius-config-file "+conf)...)
			var clientOpts []string
			if tc.mppe == "mppe_send=none" {
				clientOpts = []string{"nomppe"}
			}
			c := tp.startClient(t, "ppp0", append([]string{"name", user, "password", password}, clientOpts...)...)
			line := srv.WaitFor(t, regexp.MustCompile(`msg="session up".*`), 5*time.Second)
			if !strings.Contains(line, "auth="+tc.auth) || !strings.Contains(line, tc.mppe) {
				t.Errorf("session line %q, want auth=%s and %s", line, tc.auth, tc.mppe)
			}
			// Traffic proves the MPPE keys from RADIUS match the client's.
			netns.Ping(t, tp.cli, lanHost.Addr(), 3, 5*time.Second)
			c.stop(t)

			start, stop := acctRecords(t, fr, user)
			for k, want := range map[string]string{
				"NAS-Port-Type": "Virtual", "Service-Type": "Framed-User", "Framed-Protocol": "PPP",
				"Calling-Station-Id": cliUnder.Addr().String(), "Called-Station-Id": srvUnder.Addr().String(),
				"Framed-IP-Address": c.local.String(),
			} {
				if got := first(start, k); got != want {
					t.Errorf("Start %s = %q, want %q", k, got, want)
				}
			}
			if first(start, "Acct-Session-Id") == "" || first(start, "Acct-Session-Id") != first(stop, "Acct-Session-Id") ||
				first(start, "NAS-Identifier") == "" {
				t.Errorf("Start %v\nStop %v", start, stop)
			}
			if first(stop, "Acct-Terminate-Cause") != "User-Request" || first(stop, "Acct-Input-Packets") < "3" ||
				first(stop, "Acct-Output-Octets") == "0" || first(stop, "Acct-Session-Time") == "" {
				t.Errorf("Stop record: %v", stop)
			}
		})
	}
}

// TestRADIUSAttributes configures RADIUS with the direct options and
// checks that the Access-Accept's attributes are honoured.
func TestRADIUSAttributes(t *testing.T) {
	tp := newTopo(t)
	fr := tp.startRADIUS(t)
	tp.confExtra = []string{"ip-pool staff 192.168.0.100-110"}
	srv := tp.startServer(t, "radius-server 127.0.0.1", "radius-secret "+radiusSecret, "radius-nas-identifier vpn-test")

	// bob: Framed-IP-Address, and a Session-Timeout of 3 s that ends the
	// session with the right cause.
	bob := tp.startClient(t, "ppp0", "name", "bob", "password", "bob-password")
	if bob.local.String() != "192.168.0.77" {
		t.Errorf("bob got %v, want Framed-IP-Address 192.168.0.77", bob.local)
	}
	netns.Ping(t, tp.lan, bob.local, 2, 5*time.Second)
	if code, _ := bob.p.Wait(10 * time.Second); code != 16 {
		t.Errorf("bob's client exited %d after the Session-Timeout, want 16", code)
	}
	srv.WaitFor(t, regexp.MustCompile(`msg="session down".*user=bob.*reason="session time limit of 3s reached"`), 5*time.Second)
	start, stop := acctRecords(t, fr, "bob")
	if first(stop, "Acct-Terminate-Cause") != "Session-Timeout" || first(start, "NAS-Identifier") != "vpn-test" {
		t.Errorf("bob's accounting: Start %v\nStop %v", start, stop)
	}

	// carol: Framed-Pool.
	carol := tp.startClient(t, "ppp0", "name", "carol", "password", "carol-password")
	if carol.local.String() != "192.168.0.100" {
		t.Errorf("carol got %s, want the first address of pool staff", carol.local)
	}
	netns.Ping(t, tp.lan, carol.local, 2, 5*time.Second)
	carol.stop(t)
}

// TestRADIUSDisconnect ends a live session with a Disconnect-Request and
// shortens another's with a CoA-Request, both sent by radclient.
func TestRADIUSDisconnect(t *testing.T) {
	freeradius.RequireRadclient(t)
	tp := newTopo(t)
	fr := tp.startRADIUS(t)
	srv := tp.startServer(t, "radius-server 127.0.0.1", "radius-secret "+radiusSecret, "radius-dae-listen 127.0.0.1:3799")
	srv.WaitFor(t, regexp.MustCompile(`RADIUS Dynamic Authorization listening`), 5*time.Second)

	c := tp.startClient(t, "ppp0", "name", user, "password", password)
	out, err := fr.Radclient(t, "127.0.0.1:3799", "disconnect", radiusSecret, "User-Name = nobody")
	if !strings.Contains(out, "Disconnect-NAK") {
		t.Errorf("Disconnect-Request for nobody: %v\n%s", err, out)
	}
	out, err = fr.Radclient(t, "127.0.0.1:3799", "disconnect", radiusSecret, "User-Name = "+user)
	if err != nil || !strings.Contains(out, "Disconnect-ACK") {
		t.Fatalf("Disconnect-Request: %v\n%s", err, out)
	}
	if code, _ := c.p.Wait(10 * time.Second); code != 16 {
		t.Errorf("disconnected client exited %d, want 16", code)
	}
	_, stop := acctRecords(t, fr, user)
	if first(stop, "Acct-Terminate-Cause") != "Admin-Reset" {
		t.Errorf("Stop after Disconnect-Request: %v", stop)
	}

	c = tp.startClient(t, "ppp0", "name", "bob", "password", "bob-password")
	out, err = fr.Radclient(t, "127.0.0.1:3799", "coa", radiusSecret, "Framed-IP-Address = 192.168.0.77", "Session-Timeout = 3600")
	if err != nil || !strings.Contains(out, "CoA-ACK") {
		t.Fatalf("CoA-Request: %v\n%s", err, out)
	}
	// bob's 3-second limit is now an hour: he is still up after it.
	time.Sleep(4 * time.Second)
	netns.Ping(t, tp.lan, c.local, 2, 5*time.Second)
	c.stop(t)
}

// TestRADIUSOutage: a RADIUS server that does not answer is skipped for
// the next one; with none answering, the login fails promptly, and the
// failures are logged and counted.
func TestRADIUSOutage(t *testing.T) {
	tp := newTopo(t)
	tp.startRADIUS(t)
	// A server that swallows requests, as one behind a firewall does.
	silent := tp.srv.ListenPacket(t, "udp", "127.0.0.1:1999")
	go func() {
		buf := make([]byte, 4096)
		for {
			if _, _, err := silent.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	conf := tp.radiusClientConf(t, "127.0.0.1:1999", "127.0.0.1")
	metrics := "10.0.1.1:9100"
	tp.confExtra = []string{"metrics-listen " + metrics}
	srv := tp.startServer(t, "plugin radius.so", "radius-config-file "+conf)
	c := tp.startClient(t, "ppp0", "name", user, "password", password)
	c.stop(t)
	m := tp.scrape(t, metrics)
	if m[`pptp_radius_server_events_total{event="timeouts",kind="auth",server="127.0.0.1:1999"}`] != 1 ||
		m[`pptp_radius_server_events_total{event="accepts",kind="auth",server="127.0.0.1:1812"}`] != 1 ||
		m[`pptp_radius_server_up{kind="auth",server="127.0.0.1:1999"}`] != 0 {
		t.Errorf("RADIUS metrics after failover: %v", radiusMetrics(m))
	}

	// Now nothing answers.
	write(t, conf, strings.Replace(string(must(os.ReadFile(conf))), "authserver	127.0.0.1:1999 127.0.0.1", "authserver	127.0.0.1:1999", 1))
	srv.Signal(syscall.SIGHUP)
	srv.WaitFor(t, regexp.MustCompile(`msg="configuration reloaded".*`), 5*time.Second)
	start := time.Now()
	bad := tp.startClientProcess(t, "ppp0", "name", user, "password", password)
	code, _ := bad.Wait(30 * time.Second)
	took := time.Since(start)
	t.Logf("login without RADIUS failed after %v", took.Round(time.Millisecond))
	if code != 19 {
		t.Errorf("client exited %d with RADIUS down, want 19 (authentication failed)\n%s", code, bad.Output())
	}
	srv.WaitFor(t, regexp.MustCompile(`msg="login failed" peer=10\.0\.1\.2 user=alice .*reason=".*no RADIUS server answered`), 5*time.Second)
	if m := tp.scrape(t, metrics); m[`pptp_radius_failures_total{kind="auth"}`] != 1 {
		t.Errorf("RADIUS metrics after the outage: %v", radiusMetrics(m))
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func radiusMetrics(m map[string]float64) []string {
	var out []string
	for k, v := range m {
		if strings.HasPrefix(k, "pptp_radius") {
			out = append(out, fmt.Sprintf("%s %v", k, v))
		}
	}
	slices.Sort(out)
	return out
}
