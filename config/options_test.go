package config

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func parseOpts(t *testing.T, text string) (*PPPOptions, []Warning, error) {
	t.Helper()
	return ParseOptions(strings.NewReader(text), "opts")
}

func mustParseOpts(t *testing.T, text string) *PPPOptions {
	t.Helper()
	o, _, err := parseOpts(t, text)
	if err != nil {
		t.Fatalf("%q: %v", text, err)
	}
	return o
}

func TestOptionsDebianPptpdOptions(t *testing.T) {
	o, warns, err := ParseOptionsFile(filepath.Join("testdata", "debian-pptpd-options"))
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) != 0 {
		t.Errorf("warnings: %v", warns)
	}
	if o.Name != "pptpd" || !o.ProxyARP || o.DefaultRoute || !o.IsSet("nodefaultroute") {
		t.Errorf("name/proxyarp/defaultroute wrong: %+v", o)
	}
	if o.RequireAuth != AuthMethods(AuthMSCHAPv2) || o.RefuseAuth != AuthMethods(AuthPAP|AuthCHAPMD5|AuthMSCHAPv1) {
		t.Errorf("require %v refuse %v", o.RequireAuth, o.RefuseAuth)
	}
	if !o.MPPE.Required || o.MPPE.Named != MPPE128 || o.MPPE.Lengths != MPPE128 {
		t.Errorf("MPPE = %+v", o.MPPE)
	}
	if len(o.MSDNS) != 0 || o.Debug != 0 {
		t.Errorf("commented options were read: dns %v debug %d", o.MSDNS, o.Debug)
	}
	pos, ok := o.Where("require-mppe-128")
	if !ok || pos.String() != filepath.Join("testdata", "debian-pptpd-options")+":37" {
		t.Errorf("Where(require-mppe-128) = %v, %v", pos, ok)
	}
}

func TestOptionsInterop(t *testing.T) {
	srv, warns, err := ParseOptionsFile(filepath.Join("testdata", "interop-pptpd-options"))
	if err != nil || len(warns) != 0 {
		t.Fatal(err, warns)
	}
	if srv.Name != "pptpd" || srv.Debug != 1 || srv.LogFile != "/run/pptpi/share/pppd.log" {
		t.Errorf("server: %+v", srv)
	}
	cli, warns, err := ParseOptionsFile(filepath.Join("testdata", "interop-peer-pptpi"))
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) != 1 || !strings.Contains(warns[0].String(), "interop-peer-pptpi:1: pty is ignored") {
		t.Errorf("client warnings: %v", warns)
	}
	if cli.ClientUser() != "pptpuser" || cli.RemoteName != "pptpi-server" || cli.IPParam != "pptpi" ||
		cli.Auth != ToggleOff || !cli.RefuseEAP ||
		cli.RefuseAuth != AuthMethods(AuthPAP|AuthCHAPMD5|AuthMSCHAPv1) {
		t.Errorf("client: %+v", cli)
	}
}

func TestOptionsEffects(t *testing.T) {
	words := []string{
		"name", "srv", "user", "bob", "password", "pw", "remotename", "peer",
		"ms-dns", "10.0.0.1", "ms-dns", "10.0.0.2", "ms-wins", "10.0.0.3",
		"lcp-echo-interval", "30", "lcp-echo-failure", "4", "lcp-restart", "5",
		"lcp-max-configure", "0x10", "lcp-max-terminate", "010", "mtu", "1400", "mru", "1450",
		"proxyarp", "debug", "-d", "kdebug", "7",
		"defaultroute", "replacedefaultroute", "usepeerdns", "ifname", "ppp9",
		"nodetach", "persist", "maxfail", "0", "holdoff", "5", "ipparam", "x y",
		"linkname", "work", "unit", "3", "idle", "600", "maxconnect", "3600",
		"10.1.0.1:10.1.0.2", "noipdefault", "ipcp-accept-local", "ipcp-accept-remote",
		"+ipv6", "ip-up-script", "/up", "ip-down-script", "/down", "logfile", "/log",
		"plugin", "radius.so", "plugin", "/usr/lib/pppd/radius.so", "chap-secrets", "/c", "pap-secrets", "/p",
		"noauth", "refuse-eap", "tcp-mss-clamp", "1300",
	}
	o, warns, err := ParseOptionWords(words, "command line")
	if err != nil || len(warns) != 0 {
		t.Fatal(err, warns)
	}
	want := PPPOptions{
		Name: "srv", User: "bob", Password: "pw", RemoteName: "peer",
		MSDNS:           []netip.Addr{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")},
		MSWINS:          []netip.Addr{netip.MustParseAddr("10.0.0.3")},
		LCPEchoInterval: 30, LCPEchoFailure: 4, LCPRestart: 5, LCPMaxConfigure: 16, LCPMaxTerminate: 8,
		MTU: 1400, MRU: 1450, ProxyARP: true, Debug: 2, KDebug: 7,
		DefaultRoute: true, ReplaceDefaultRoute: true, UsePeerDNS: true, IfName: "ppp9",
		NoDetach: true, Persist: true, MaxFail: 0, Holdoff: 5, IPParam: "x y", LinkName: "work",
		Unit: 3, Idle: 600, MaxConnect: 3600,
		LocalIP: netip.MustParseAddr("10.1.0.1"), RemoteIP: netip.MustParseAddr("10.1.0.2"),
		NoIPDefault: true, IPCPAcceptLocal: true, IPCPAcceptRemote: true, IPv6: true,
		IPUpScript: "/up", IPDownScript: "/down", LogFile: "/log", Plugins: []string{"radius.so", "/usr/lib/pppd/radius.so"},
		CHAPSecrets: "/c", PAPSecrets: "/p", Auth: ToggleOff, RefuseEAP: true, TCPMSSClamp: 1300,
	}
	got := *o
	got.seen, got.seq, got.peersDir = nil, 0, ""
	if fmt.Sprintf("%#v", got) != fmt.Sprintf("%#v", want) || string(got.Password) != string(want.Password) {
		t.Errorf("got  %#v\nwant %#v", got, want)
	}
	if pos, ok := o.Where("-d"); !ok || pos.String() != "command line: argument 31" {
		t.Errorf("Where(-d) = %v %v", pos, ok)
	}
	if !o.IsSet("local:remote") || o.IsSet("auth") {
		t.Error("IsSet wrong")
	}
}

func TestOptionsDefaults(t *testing.T) {
	o := NewPPPOptions()
	if o.CHAPSecrets != "/etc/ppp/chap-secrets" || o.PAPSecrets != "/etc/ppp/pap-secrets" ||
		o.MaxFail != 10 || o.Holdoff != 30 || o.Unit != -1 || o.LCPRestart != 3 ||
		o.LCPMaxConfigure != 10 || o.LCPMaxTerminate != 2 || o.Auth != ToggleUnset {
		t.Errorf("defaults: %+v", o)
	}
	if o.ClientUser() != "" {
		t.Error("ClientUser of defaults not empty")
	}
	o = mustParseOpts(t, "name host")
	if o.ClientUser() != "host" {
		t.Errorf("ClientUser falls back to name: %q", o.ClientUser())
	}
	o = mustParseOpts(t, `name host user ""`)
	if o.ClientUser() != "" {
		t.Errorf("an explicit empty user wins: %q", o.ClientUser())
	}
}

func TestOptionsLastWins(t *testing.T) {
	o := mustParseOpts(t, "defaultroute nodefaultroute proxyarp noproxyarp persist nopersist +ipv6 noipv6 mtu 1000 mtu 1200 auth noauth")
	if o.DefaultRoute || o.ProxyARP || o.Persist || o.IPv6 || o.MTU != 1200 || o.Auth != ToggleOff {
		t.Errorf("%+v", o)
	}
	o = mustParseOpts(t, "noauth auth mppe-stateful nomppe-stateful")
	if o.Auth != ToggleOn || o.MPPE.Stateful != ToggleOff {
		t.Errorf("%+v", o)
	}
}

func TestOptionsAliases(t *testing.T) {
	o := mustParseOpts(t, "+pap +chap +mschap +mschap-v2 -pap -chap -mschap -mschap-v2 -ccp -vj -ac -detach -defaultroute")
	if o.RequireAuth != allAuth || o.RefuseAuth != allAuth || !o.MPPE.NoCCP || !o.NoDetach {
		t.Errorf("%+v", o)
	}
	for _, name := range []string{"require-pap", "+pap", "refuse-mschap-v2", "noccp", "novj", "noaccomp", "nodetach", "nodefaultroute"} {
		if !o.IsSet(name) {
			t.Errorf("IsSet(%q) = false", name)
		}
	}
	// Messages use the spelling the user wrote.
	if got := o.ref("require-pap"); got != "+pap (opts:1)" {
		t.Errorf("ref = %q", got)
	}
	o = mustParseOpts(t, "+mppe -mppe-40 +mppe-128")
	if !o.MPPE.Required || o.MPPE.Refused != MPPE40 || o.MPPE.Named != MPPE128 {
		t.Errorf("%+v", o.MPPE)
	}
}

func TestOptionsMSDNS(t *testing.T) {
	o, warns, err := parseOpts(t, "ms-dns 10.0.0.1\nms-dns 10.0.0.2\nms-dns 10.0.0.3\n")
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(o.MSDNS) != "[10.0.0.2 10.0.0.3]" {
		t.Errorf("MSDNS = %v, want the last two", o.MSDNS)
	}
	if len(warns) != 1 || !strings.Contains(warns[0].String(), "opts:3: more than two ms-dns options; 10.0.0.1 is dropped") {
		t.Errorf("warnings = %v", warns)
	}
}

func TestOptionsIPPair(t *testing.T) {
	tests := []struct{ word, local, remote string }{
		{"10.0.0.1:10.0.0.2", "10.0.0.1", "10.0.0.2"},
		{"10.0.0.1:", "10.0.0.1", "invalid IP"},
		{":10.0.0.2", "invalid IP", "10.0.0.2"},
		{":", "invalid IP", "invalid IP"},
		{"0.0.0.0:10.0.0.2", "invalid IP", "10.0.0.2"},
	}
	for _, tt := range tests {
		o, _, err := ParseOptionWords([]string{tt.word}, "cl")
		if err != nil {
			t.Errorf("%s: %v", tt.word, err)
			continue
		}
		if o.LocalIP.String() != tt.local || o.RemoteIP.String() != tt.remote {
			t.Errorf("%s: local %s remote %s", tt.word, o.LocalIP, o.RemoteIP)
		}
	}
}

func TestOptionsWarnings(t *testing.T) {
	_, warns, err := parseOpts(t, "lock\n115200\nmultilink\nconnect 'chat -v'\ndefaultroute-metric 5\nnobsdcomp\n")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"opts:2: tty speed 115200 ignored",
		"opts:3: multilink is not supported; ignored",
		"opts:4: connect is ignored",
		"opts:5: defaultroute-metric is not implemented; ignored",
	}
	if len(warns) != len(want) {
		t.Fatalf("warnings = %v", warns)
	}
	for i, w := range want {
		if !strings.HasPrefix(warns[i].String(), w) {
			t.Errorf("warning %d = %q, want prefix %q", i, warns[i], w)
		}
	}
}

func TestOptionsNoops(t *testing.T) {
	text := `lock nolock nobsdcomp nodeflate novj novjccomp nologfd noipx nopcomp noaccomp
asyncmap 0 asyncmap 0xa0000 default-asyncmap crtscts nocrtscts local modem passive silent
hide-password show-password noktune ktune nomultilink bsdcomp 9,15 deflate 12 predictor1
nopredictor1 lcp-echo-adaptive connect-delay 500 sync notty dump nodeflatedraft`
	o, warns, err := parseOpts(t, text)
	if err != nil || len(warns) != 0 {
		t.Fatal(err, warns)
	}
	if !o.IsSet("connect-delay") {
		t.Error("no-op options are not recorded")
	}
}

func TestOptionsErrors(t *testing.T) {
	tests := []struct{ text, want string }{
		{"lock\nfoo\n", `opts:2: unknown option "foo"`},
		{"require-eap", "opts:1: require-eap: EAP is not supported"},
		{"\n\nlogin", "opts:3: login (PAP against the system password database) is not supported"},
		{"papcrypt", "papcrypt"},
		{"mppe-128", `opts:1: unknown option "mppe-128": this is the old MPPE patch's spelling; use require-mppe-128`},
		{"plugin rp-pppoe.so\nrp_pppoe_service x", `opts:2: unknown option "rp_pppoe_service" (options of pppd plugins are not supported)`},
		{"name", "opts:1: option name needs an argument"},
		{"lock\n\nmtu", "opts:3: option mtu needs an argument"},
		{"mtu\n1500x", `opts:2: mtu: "1500x" is not a number`},
		{"mtu 63", "opts:1: mtu: 63 is out of range 64-65535"},
		{"mru 65536", "mru: 65536 is out of range 64-65535"},
		{"lcp-restart 0", "lcp-restart: 0 is out of range"},
		{"lcp-echo-interval -1", "lcp-echo-interval: -1 is out of range"},
		{"idle 99999999999999999999", "is not a number"},
		{"maxfail 1_0", "is not a number"},
		{"asyncmap lock", `asyncmap: "lock" is not a 32-bit hex number`},
		{"bsdcomp 9,x", "bsdcomp:"},
		{"ms-dns dns.example.com", `opts:1: ms-dns: "dns.example.com" is not an IPv4 address`},
		{"ms-wins 2001:db8::1", "ms-wins:"},
		{"mppe required,stateless,no50", `opts:1: mppe: unknown modifier "no50"`},
		{"mppe required,,no40", `unknown modifier ""`},
		{"10.0.0.1:10.0.0", `opts:1: bad remote address in "10.0.0.1:10.0.0"`},
		{"127.0.0.1:", "bad local address"},
		{":224.0.0.1", "bad remote address"},
		{"host:10.0.0.1", "host names are not resolved"},
		{"call /etc/passwd", "opts:1: call:"},
		{"call ../x", "may not contain .."},
		{"dryrun", "dryrun is not supported"},
		{"noip", "noip (no IPv4) is not supported"},
		{"\"unterminated", "opts:1: quote \" is never closed"},
	}
	for _, tt := range tests {
		_, _, err := parseOpts(t, tt.text)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: err = %v, want %q", tt.text, err, tt.want)
		}
		var pe *ParseError
		if err != nil && !errors.As(err, &pe) {
			t.Errorf("%q: %T is not a *ParseError", tt.text, err)
		}
	}
	// Command-line errors name the argument.
	_, _, err := ParseOptionWords([]string{"noauth", "mtu", "big"}, "command line")
	if err == nil || err.Error() != `command line: argument 3: mtu: "big" is not a number` {
		t.Errorf("err = %v", err)
	}
	_, _, err = ParseOptionWords([]string{"noauth", "bogus"}, "command line")
	if err == nil || err.Error() != `command line: argument 2: unknown option "bogus"` {
		t.Errorf("err = %v", err)
	}
}

func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestOptionsInclude(t *testing.T) {
	dir := t.TempDir()
	inner := writeFile(t, dir, "inner", "mtu 1300\nrequire-mppe-128\n")
	outer := writeFile(t, dir, "outer", "noauth\nfile "+inner+"\nmru 1301\n")
	o, _, err := ParseOptionsFile(outer)
	if err != nil {
		t.Fatal(err)
	}
	if o.MTU != 1300 || o.MRU != 1301 || !o.MPPE.Required {
		t.Errorf("%+v", o)
	}
	if pos, _ := o.Where("require-mppe-128"); pos.String() != inner+":2" {
		t.Errorf("option from include recorded at %v", pos)
	}

	// An error inside an include names both places.
	bad := writeFile(t, dir, "bad", "lock\n\nfrobnicate\n")
	top := writeFile(t, dir, "top", "lock\nfile "+bad+"\n")
	_, _, err = ParseOptionsFile(top)
	want := fmt.Sprintf(`%s:2: in file included here: %s:3: unknown option "frobnicate"`, top, bad)
	if err == nil || err.Error() != want {
		t.Errorf("err = %v\nwant %s", err, want)
	}

	// A missing include.
	_, _, err = ParseOptionWords([]string{"file", filepath.Join(dir, "missing")}, "command line")
	if err == nil || !strings.Contains(err.Error(), "command line: argument 2: reading options file") || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("err = %v", err)
	}

	// A file including itself stops at the depth limit.
	self := filepath.Join(dir, "self")
	writeFile(t, dir, "self", "file "+self+"\n")
	_, _, err = ParseOptionsFile(self)
	if err == nil || !strings.Contains(err.Error(), "files nested more than 8 deep") {
		t.Errorf("err = %v", err)
	}

	// Eight levels are fine, nine are not.
	chain := func(n int) string {
		next := writeFile(t, dir, fmt.Sprintf("c%d-%d", n, n), "mtu 1000\n")
		for i := n - 1; i >= 1; i-- {
			next = writeFile(t, dir, fmt.Sprintf("c%d-%d", n, i), "file "+next+"\n")
		}
		return next
	}
	if _, _, err := ParseOptionWords([]string{"file", chain(8)}, "cl"); err != nil {
		t.Errorf("8 levels: %v", err)
	}
	if _, _, err := ParseOptionWords([]string{"file", chain(9)}, "cl"); err == nil {
		t.Error("9 levels accepted")
	}

	// Directories and devices are refused rather than read.
	if _, _, err := ParseOptionWords([]string{"file", dir}, "cl"); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("directory: %v", err)
	}
}

func TestOptionsCall(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "work", "remotename office\nrequire-mppe-128\n")
	writeFile(t, dir, "sub/home", "remotename home\n")
	o := NewPPPOptions()
	o.peersDir = dir
	if _, err := o.ApplyWords([]string{"call", "work"}, "cl"); err != nil {
		t.Fatal(err)
	}
	if o.RemoteName != "office" {
		t.Errorf("RemoteName = %q", o.RemoteName)
	}
	if _, err := o.ApplyWords([]string{"call", "sub/home"}, "cl"); err != nil || o.RemoteName != "home" {
		t.Errorf("subdirectory: %v %q", err, o.RemoteName)
	}
}

func TestOptionsLayering(t *testing.T) {
	dir := t.TempDir()
	// /etc/ppp/options, then a peers file, then the command line.
	sys := writeFile(t, dir, "options", "auth\nlcp-echo-interval 30\n")
	peer := writeFile(t, dir, "peer", "noauth\nname alice\n")
	o := NewPPPOptions()
	for _, f := range []string{sys, peer} {
		if _, err := o.ApplyFile(f); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := o.ApplyWords([]string{"mtu", "1400"}, "command line"); err != nil {
		t.Fatal(err)
	}
	if o.Auth != ToggleOff || o.LCPEchoInterval != 30 || o.Name != "alice" || o.MTU != 1400 {
		t.Errorf("%+v", o)
	}
	// A failed apply leaves the options as they were.
	before := fmt.Sprintf("%#v", *o)
	if _, err := o.ApplyWords([]string{"mtu", "1000", "ms-dns", "10.0.0.1", "plugin", "x.so", "nosuch"}, "command line"); err == nil {
		t.Fatal("no error")
	}
	if after := fmt.Sprintf("%#v", *o); after != before || o.MTU != 1400 || len(o.MSDNS) != 0 || len(o.Plugins) != 0 || o.IsSet("plugin") {
		t.Errorf("failed apply changed the options:\n%s\n%s", before, after)
	}
	// The zero value works too.
	var z PPPOptions
	if _, err := z.ApplyWords([]string{"noauth"}, "cl"); err != nil || z.Auth != ToggleOff || !z.IsSet("noauth") {
		t.Errorf("zero value: %v", err)
	}
}

func TestOptionTableConsistent(t *testing.T) {
	for name, spec := range pppOptions {
		if spec.alias != "" {
			target, ok := pppOptions[spec.alias]
			if !ok || target.alias != "" {
				t.Errorf("%s: alias of %q, which is missing or an alias", name, spec.alias)
			}
			continue
		}
		if spec.nargs < 0 || spec.nargs > 1 {
			t.Errorf("%s: nargs %d", name, spec.nargs)
		}
		if spec.kind == kindUnsupported && spec.note == "" {
			t.Errorf("%s: unsupported without a message", name)
		}
		if spec.kind == kindEffect && spec.apply == nil {
			t.Errorf("%s: an effect without apply", name)
		}
		if _, hint := optionHints[name]; hint {
			t.Errorf("%s: both an option and a hint", name)
		}
	}
	// Every option the brief lists is known.
	for _, name := range strings.Fields(`name user password remotename auth noauth require-pap require-chap
		require-mschap require-mschap-v2 require-eap refuse-pap refuse-chap refuse-mschap refuse-mschap-v2
		refuse-eap +pap -pap +chap -chap require-mppe require-mppe-128 require-mppe-40 nomppe mppe-stateful
		nomppe-stateful nomppe-40 nomppe-128 mppe noccp ms-dns ms-wins lcp-echo-interval lcp-echo-failure
		lcp-restart lcp-max-configure lcp-max-terminate mtu mru proxyarp noproxyarp debug kdebug
		defaultroute nodefaultroute replacedefaultroute usepeerdns ifname nodetach persist nopersist
		maxfail holdoff ipparam linkname unit idle maxconnect noipdefault ipcp-accept-local
		ipcp-accept-remote +ipv6 noipv6 ip-up-script ip-down-script logfile plugin chap-secrets
		pap-secrets lock nolock nobsdcomp nodeflate novj novjccomp nologfd noipx nopcomp noaccomp
		asyncmap default-asyncmap crtscts nocrtscts local modem passive silent hide-password
		show-password noktune ktune nomultilink bsdcomp deflate predictor1 nopredictor1
		lcp-echo-adaptive connect-delay sync notty multilink pty connect disconnect file call`) {
		if _, _, ok := lookupOption(name); !ok {
			t.Errorf("option %q missing", name)
		}
	}
	if !slices.Contains([]optKind{kindNoop}, pppOptions["lock"].kind) {
		t.Error("lock is not a silent no-op")
	}
}

func TestTCPMSSClamp(t *testing.T) {
	for _, tc := range []struct {
		words []string
		want  int
		err   bool
	}{
		{nil, MSSClampAuto, false},
		{[]string{"tcp-mss-clamp", "auto"}, MSSClampAuto, false},
		{[]string{"tcp-mss-clamp", "off"}, 0, false},
		{[]string{"tcp-mss-clamp", "1200"}, 1200, false},
		{[]string{"tcp-mss-clamp", "20"}, 0, true},
		{[]string{"tcp-mss-clamp", "big"}, 0, true},
		{[]string{"tcp-mss-clamp"}, 0, true},
	} {
		o, _, err := ParseOptionWords(tc.words, "command line")
		if (err != nil) != tc.err {
			t.Errorf("%q: error %v", tc.words, err)
			continue
		}
		if err == nil && o.TCPMSSClamp != tc.want {
			t.Errorf("%q: %d, want %d", tc.words, o.TCPMSSClamp, tc.want)
		}
	}
	for _, tc := range []struct{ setting, mtu, want int }{
		{MSSClampAuto, 1400, 1360}, {0, 1400, 0}, {1200, 1400, 1200}, {1500, 1400, 1360},
	} {
		if got := MSSClamp(tc.setting, tc.mtu); int(got) != tc.want {
			t.Errorf("MSSClamp(%d, %d) = %d, want %d", tc.setting, tc.mtu, got, tc.want)
		}
	}
}

func TestRequireMPPEStateful(t *testing.T) {
	for _, tc := range []struct {
		words          []string
		allow, require bool
	}{
		{[]string{"mppe-stateful"}, true, false},
		{[]string{"require-mppe-stateful"}, true, true},
		{[]string{"require-mppe-stateful", "nomppe-stateful"}, false, false},
		{[]string{"nomppe-stateful", "require-mppe-stateful"}, true, true},
		{nil, false, false},
	} {
		o, _, err := ParseOptionWords(tc.words, "command line")
		if err != nil {
			t.Fatalf("%q: %v", tc.words, err)
		}
		p, err := o.ServerMPPE()
		if err != nil {
			t.Fatalf("%q: %v", tc.words, err)
		}
		if p.AllowStateful != tc.allow || p.RequireStateful != tc.require {
			t.Errorf("%q: allow %v require %v, want %v %v", tc.words, p.AllowStateful, p.RequireStateful, tc.allow, tc.require)
		}
	}
}
