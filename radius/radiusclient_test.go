package radius

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// writeFiles writes name → content into a new directory.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// pppdRadiusclientConf is the radiusclient.conf that pppd installs
// (pppd/plugins/radius/etc/radiusclient.conf.in), comments shortened, with
// its @pkgsysconfdir@ left for the test to fill in.
const pppdRadiusclientConf = `# General settings
auth_order	radius
login_tries	4
login_timeout	60
nologin /etc/nologin
issue	@pkgsysconfdir@/issue

# RADIUS settings
authserver 	localhost:1812
acctserver 	localhost:1813
servers		@pkgsysconfdir@/servers
dictionary 	@pkgsysconfdir@/dictionary
login_radius	/usr/sbin/login.radius
seqfile		/var/run/radius.seq
mapfile		@pkgsysconfdir@/port-id-map
default_realm
radius_timeout	10
radius_retries	3

# nas_identifier MyUniqueNASName

# LOCAL settings
login_local	/bin/login
`

func TestLoadPppdRadiusclientConf(t *testing.T) {
	dir := t.TempDir()
	conf := strings.ReplaceAll(pppdRadiusclientConf, "@pkgsysconfdir@", dir)
	writeFile := func(name, s string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeFile("radiusclient.conf", conf)
	writeFile("servers", "#Server Name or Client/Server pair\t\tKey\n#----------------\t\t---------------\nlocalhost\t\ttestsecret\n\nother.example  x\n")
	c, err := LoadRadiusclientConf(filepath.Join(dir, "radiusclient.conf"))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		AuthServers: []Server{{Addr: "localhost:1812", Secret: "testsecret"}},
		AcctServers: []Server{{Addr: "localhost:1813", Secret: "testsecret"}},
		Timeout:     10 * time.Second,
		Retries:     2, // radius_retries 3 is three transmissions
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got  %+v\nwant %+v", c, want)
	}
}

func TestLoadRadiusclientConfVariants(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"rc.conf": "authserver 10.0.0.1:1645:inline-s, [2001:db8::1]:11812  radius.example\n" +
			"acctserver\t10.0.0.1:1646:inline-s\n" +
			"servers servers.txt\n" + // relative to the configuration's directory
			"radius_timeout 2\nradius_retries 1\nradius_deadtime 0\n" +
			"nas_identifier pptp-gw 1\nbindaddr 192.0.2.5\nserv-type udp\n" +
			"frobnicate yes\ndefault_realm example.org\n",
		"servers.txt": "# comment\n2001:db8::1 v6secret\nmynas/RADIUS.example  paired\n",
	})
	c, err := LoadRadiusclientConf(filepath.Join(dir, "rc.conf"))
	if err != nil {
		t.Fatal(err)
	}
	wantAuth := []Server{
		{Addr: "10.0.0.1:1645", Secret: "inline-s"},
		{Addr: "[2001:db8::1]:11812", Secret: "v6secret"},
		{Addr: "radius.example:1812", Secret: "paired"},
	}
	if !reflect.DeepEqual(c.AuthServers, wantAuth) {
		t.Errorf("auth servers %+v", c.AuthServers)
	}
	if !reflect.DeepEqual(c.AcctServers, []Server{{Addr: "10.0.0.1:1646", Secret: "inline-s"}}) {
		t.Errorf("acct servers %+v", c.AcctServers)
	}
	if c.Timeout != 2*time.Second || c.Retries != -1 || c.DeadTime != -1 || c.NASIdentifier != "pptp-gw 1" || c.BindAddr.String() != "192.0.2.5" || c.DefaultRealm != "example.org" {
		t.Errorf("config %+v", c)
	}
	if len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], "rc.conf:10: unrecognized keyword frobnicate") {
		t.Errorf("warnings %q", c.Warnings)
	}
	// The result makes a working client: one transmission, no dead
	// marking.
	cl, err := NewClient(c)
	if err != nil {
		t.Fatal(err)
	}
	if cc := cl.Config(); cc.Retries != 0 || cc.DeadTime != -1 {
		t.Errorf("client config %+v", cc)
	}
}

func TestLoadRadiusclientConfErrors(t *testing.T) {
	for _, tc := range []struct {
		conf, servers, want string
	}{
		{"authserver a:1:s\nauthserver b:2:s\n", "", "rc.conf:2: duplicate option authserver (first on line 1)"},
		{"authserver a:1:s\nradius_timeout 0\n", "", "rc.conf:2: radius_timeout: want a positive number"},
		{"authserver a:1:s\nradius_retries x\n", "", "rc.conf:2: radius_retries"},
		{"acctserver a:1:s\n", "", "no authserver"},
		{"authserver a\nservers servers\n", "b s\n", "rc.conf:1: no secret for server a in"},
		{"authserver a\n", "", "no servers file"},
		{"authserver a\nservers missing\n", "", "rc.conf:2: servers file: open"},
		{"authserver a\nservers servers\n", "lonely\n", "servers:1: want \"server secret\""},
		{"\n\nauthserver a:99999:s\n", "", "rc.conf:3: authserver:"},
		{"authserver [::1:s\n", "", "rc.conf:1: authserver:"},
		{"authserver a:1:s\n bindaddr 1.2.3.4\n", "", "rc.conf:2: bogus format"},
		{"authserver a:1:s\nbindaddr somewhere\n", "", "rc.conf:2: bindaddr"},
		{"authserver a:1:s\nserv-type tls\n", "", "rc.conf:2: serv-type \"tls\""},
		{"authserver a b c d e f g h i\n", "", "rc.conf:1: authserver: too many servers"},
		{"authserver\n", "", "rc.conf:1: authserver: no server named"},
	} {
		files := map[string]string{"rc.conf": tc.conf}
		if tc.servers != "" {
			files["servers"] = tc.servers
		}
		dir := writeFiles(t, files)
		_, err := LoadRadiusclientConf(filepath.Join(dir, "rc.conf"))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want %q", tc.conf, err, tc.want)
		}
	}
	if _, err := LoadRadiusclientConf(filepath.Join(t.TempDir(), "none")); err == nil {
		t.Error("missing file accepted")
	}
}

func TestParseHostPort(t *testing.T) {
	for in, want := range map[string]string{
		"radius":           "radius:1812",
		"radius:1645":      "radius:1645",
		"10.0.0.1":         "10.0.0.1:1812",
		"10.0.0.1:11812":   "10.0.0.1:11812",
		"::1":              "[::1]:1812",
		"[::1]":            "[::1]:1812",
		"[2001:db8::1]:99": "[2001:db8::1]:99",
	} {
		got, err := ParseHostPort(in, 1812)
		if err != nil || got != want {
			t.Errorf("ParseHostPort(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", ":1812", "host:0", "host:x", "host:70000", "[::1", "[::1]x", "a b:1"} {
		if got, err := ParseHostPort(in, 1812); err == nil {
			t.Errorf("ParseHostPort(%q) = %q, want an error", in, got)
		}
	}
}

func TestFromOptions(t *testing.T) {
	c, err := FromOptions(Options{
		Servers:         []string{"10.0.0.1", "radius2.example:11812"},
		Secret:          "s",
		NASIdentifier:   "gw",
		InterimInterval: 5 * time.Minute,
		DAEListen:       "0.0.0.0:3799",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		AuthServers:     []Server{{Addr: "10.0.0.1:1812", Secret: "s"}, {Addr: "radius2.example:11812", Secret: "s"}},
		AcctServers:     []Server{{Addr: "10.0.0.1:1813", Secret: "s"}, {Addr: "radius2.example:1813", Secret: "s"}},
		NASIdentifier:   "gw",
		InterimInterval: 5 * time.Minute,
		DAE:             DAEConfig{Listen: "0.0.0.0:3799"},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got  %+v\nwant %+v", c, want)
	}
	c, err = FromOptions(Options{Servers: []string{"a"}, Secret: "s", DAEListen: "::1"})
	if err != nil || c.DAE.Listen != "[::1]:3799" {
		t.Errorf("DAE listen address without a port: %q, %v", c.DAE.Listen, err)
	}
	c, err = FromOptions(Options{Servers: []string{"a"}, AcctServers: []string{"b"}, Secret: "s"})
	if err != nil || len(c.AcctServers) != 1 || c.AcctServers[0].Addr != "b:1813" {
		t.Errorf("explicit accounting server: %+v, %v", c.AcctServers, err)
	}
	for _, o := range []Options{
		{Servers: []string{"a"}},
		{Secret: "s"},
		{Servers: []string{"a:x"}, Secret: "s"},
		{Servers: []string{"a"}, Secret: "s", DAEListen: ":3799"},
		{Servers: []string{"a"}, Secret: "s", InterimInterval: -1},
	} {
		if _, err := FromOptions(o); err == nil {
			t.Errorf("FromOptions(%+v) accepted", o)
		}
	}
}

func TestRadiusclientConfPrivateSecrets(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "radiusclient.conf")
	os.WriteFile(conf, []byte("authserver 10.0.0.1\nservers servers\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "servers"), []byte("10.0.0.1 s3cret\n"), 0o644)
	c, err := LoadRadiusclientConf(conf)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(c.Warnings, func(w string) bool { return strings.Contains(w, "servers holds secrets but is readable") }) {
		t.Errorf("no warning for a world-readable servers file: %v", c.Warnings)
	}
	os.Chmod(filepath.Join(dir, "servers"), 0o600)
	c, _ = LoadRadiusclientConf(conf)
	if slices.ContainsFunc(c.Warnings, func(w string) bool { return strings.Contains(w, "readable") }) {
		t.Errorf("warning for a private servers file: %v", c.Warnings)
	}
}
