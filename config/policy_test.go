package config

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// summary formats a policy compactly for table tests.
func summary(p Policy) string {
	auth := "noauth"
	if p.Auth.Required {
		auth = "required"
	}
	var ms []string
	for _, m := range p.Auth.Methods {
		ms = append(ms, m.String())
	}
	mppe := "off"
	if p.MPPE.Enabled() {
		mppe = "optional"
		if p.MPPE.Required {
			mppe = "required"
		}
		mppe += " " + p.MPPE.Allowed.String()
		if p.MPPE.AllowStateful {
			mppe += " stateful"
		}
	}
	return fmt.Sprintf("%s [%s] mppe %s", auth, strings.Join(ms, " "), mppe)
}

type policyCase struct {
	opts string
	want string // summary, or "error: substring"
}

func runPolicyCases(t *testing.T, role string, cases []policyCase) {
	t.Helper()
	for _, tt := range cases {
		o := mustParseOpts(t, tt.opts)
		var p Policy
		var err error
		if role == "server" {
			p, err = o.ServerPolicy()
		} else {
			p, err = o.ClientPolicy()
		}
		if want, isErr := strings.CutPrefix(tt.want, "error: "); isErr {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s %q: got %s, %v; want error %q", role, tt.opts, summary(p), err, want)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s %q: %v", role, tt.opts, err)
			continue
		}
		if got := summary(p); got != tt.want {
			t.Errorf("%s %q:\n got  %s\n want %s", role, tt.opts, got, tt.want)
		}
	}
}

func TestServerPolicy(t *testing.T) {
	runPolicyCases(t, "server", []policyCase{
		// Defaults: MS-CHAPv2 and MPPE-128.
		{"", "required [MS-CHAPv2] mppe required 128-bit"},
		{"refuse-pap refuse-chap", "required [MS-CHAPv2] mppe required 128-bit"},
		{"refuse-pap refuse-chap refuse-mschap require-mschap-v2 require-mppe-128", "required [MS-CHAPv2] mppe required 128-bit"},
		{"refuse-mschap-v2", "error: the server requires MS-CHAPv2 by default, but refuse-mschap-v2 (opts:1) refuses it; add the require-* option"},

		// Required methods, several allowed together.
		{"require-mschap-v2 require-mschap", "required [MS-CHAPv2 MS-CHAP] mppe required 128-bit"},
		{"require-mschap", "required [MS-CHAP] mppe required 128-bit"},
		{"+pap nomppe", "required [PAP] mppe off"},
		{"require-pap require-chap nomppe", "required [CHAP-MD5 PAP] mppe off"},
		{"require-chap require-mschap-v2 nomppe", "required [MS-CHAPv2 CHAP-MD5] mppe off"},
		// MPPE required: methods without keys are dropped, or it is an error.
		{"require-chap require-mschap-v2", "required [MS-CHAPv2] mppe required 128-bit"},
		{"require-pap", "error: require-pap (opts:1): only PAP would be allowed, which cannot provide MPPE keys, but MPPE is required by default; add require-mschap-v2, or add nomppe"},
		{"require-pap\nrequire-chap\nrequire-mppe-40", "error: require-chap (opts:2) and require-pap (opts:1): only CHAP-MD5, PAP would be allowed, which cannot provide MPPE keys, but MPPE is required by require-mppe-40 (opts:3)"},
		{"require-pap refuse-pap nomppe", "error: require-pap (opts:1) contradicts refuse-pap (opts:1); remove one of them"},
		{"require-mschap-v2\nrefuse-mschap-v2", "error: require-mschap-v2 (opts:1) contradicts refuse-mschap-v2 (opts:2)"},

		// auth alone: any method not refused.
		{"auth", "required [MS-CHAPv2 MS-CHAP] mppe required 128-bit"},
		{"auth nomppe", "required [MS-CHAPv2 MS-CHAP CHAP-MD5 PAP] mppe off"},
		{"auth refuse-pap nomppe", "required [MS-CHAPv2 MS-CHAP CHAP-MD5] mppe off"},
		{"auth refuse-mschap refuse-mschap-v2", "error: auth (opts:1) with refuse-mschap-v2 (opts:1) and refuse-mschap (opts:1): only CHAP-MD5, PAP would be allowed"},
		{"auth refuse-pap refuse-chap refuse-mschap refuse-mschap-v2 nomppe", "error: auth (opts:1) requires authentication, but every method is refused"},

		// noauth.
		{"noauth nomppe", "noauth [] mppe off"},
		{"auth noauth nomppe", "noauth [] mppe off"},
		{"noauth auth", "required [MS-CHAPv2 MS-CHAP] mppe required 128-bit"},
		{"noauth", "error: noauth (opts:1) lets peers in without authentication, but MPPE is required by default and its keys come from MS-CHAP authentication; add nomppe to run unencrypted, or remove noauth"},
		{"noauth\nrequire-mppe-128", "error: MPPE is required by require-mppe-128 (opts:2)"},
		{"noauth\nrequire-mschap-v2", "error: noauth (opts:1) contradicts require-mschap-v2 (opts:2): noauth lets peers in without authentication; remove one of them"},
		{"require-mschap-v2 noauth", "error: noauth (opts:1) contradicts require-mschap-v2 (opts:1)"},

		// MPPE variants.
		{"require-mppe", "required [MS-CHAPv2] mppe required 40/128-bit"},
		{"+mppe", "required [MS-CHAPv2] mppe required 40/128-bit"},
		{"require-mppe-40", "required [MS-CHAPv2] mppe required 40-bit"},
		{"require-mppe-40 require-mppe-128", "required [MS-CHAPv2] mppe required 40/128-bit"},
		{"require-mppe nomppe-40", "required [MS-CHAPv2] mppe required 128-bit"},
		{"nomppe-40", "required [MS-CHAPv2] mppe required 128-bit"},
		{"nomppe-128", "error: MPPE with 128-bit keys is required by default, but nomppe-128 (opts:1) refuses 128-bit keys; add require-mppe-40 to use 40-bit keys, or nomppe to run unencrypted"},
		{"require-mppe-128 nomppe", "error: nomppe (opts:1) contradicts require-mppe-128 (opts:1); remove one of them"},
		{"nomppe\nrequire-mppe", "error: nomppe (opts:1) contradicts require-mppe (opts:2)"},
		{"require-mppe-128 mppe-stateful nomppe", "error: nomppe (opts:1) contradicts require-mppe-128"},
		{"require-mppe-128 nomppe-128", "error: require-mppe-128 (opts:1) contradicts nomppe-128 (opts:1)"},
		{"+mppe-40 -mppe-40", "error: +mppe-40 (opts:1) contradicts -mppe-40 (opts:1)"},
		{"require-mppe nomppe-40 nomppe-128", "error: require-mppe (opts:1) asks for MPPE, but every key length it allows is refused"},
		{"mppe required,stateless", "required [MS-CHAPv2] mppe required 40/56/128-bit"},
		{"mppe required,no40,no56", "required [MS-CHAPv2] mppe required 128-bit"},
		{"mppe no40", "required [MS-CHAPv2] mppe optional 56/128-bit"},
		{"mppe no40,no56,no128", "error: mppe (opts:1) asks for MPPE, but every key length it allows is refused by mppe (opts:1)"},
		{"mppe required,no128 require-mppe-128", "error: require-mppe-128 (opts:1) contradicts mppe (opts:1)"},
		{"require-pap mppe no40 ", "required [PAP] mppe optional 56/128-bit"},
		{"mppe-stateful", "required [MS-CHAPv2] mppe required 128-bit stateful"},
		{"require-mppe-128 mppe-stateful", "required [MS-CHAPv2] mppe required 128-bit stateful"},
		{"mppe-stateful nomppe-stateful", "required [MS-CHAPv2] mppe required 128-bit"},
		{"mppe-stateful mppe required,stateless", "required [MS-CHAPv2] mppe required 40/56/128-bit"},
		{"nomppe mppe-stateful nomppe-40", "required [MS-CHAPv2] mppe off"},
		{"noccp", "required [MS-CHAPv2] mppe off"},
		{"noccp require-mppe", "error: noccp (opts:1) turns off CCP, which carries MPPE, but require-mppe (opts:1) asks for MPPE"},
		{"-ccp +mppe-128", "error: -ccp (opts:1) turns off CCP"},
		{"require-mschap nomppe-128 require-mppe-40", "required [MS-CHAP] mppe required 40-bit"},
	})
}

func TestClientPolicy(t *testing.T) {
	runPolicyCases(t, "client", []policyCase{
		{"", "noauth [MS-CHAPv2 MS-CHAP] mppe required 128-bit"},
		{"noauth", "noauth [MS-CHAPv2 MS-CHAP] mppe required 128-bit"},
		{"noauth nomppe", "noauth [MS-CHAPv2 MS-CHAP CHAP-MD5 PAP] mppe off"},
		{"refuse-pap refuse-chap refuse-mschap refuse-eap", "noauth [MS-CHAPv2] mppe required 128-bit"},
		{"refuse-mschap-v2", "noauth [MS-CHAP] mppe required 128-bit"},
		{"refuse-mschap refuse-mschap-v2", "error: refuse-mschap-v2 (opts:1) and refuse-mschap (opts:1) leave only CHAP-MD5, PAP, which cannot provide MPPE keys, but MPPE is required by default; remove one of them, or add nomppe"},
		{"refuse-mschap refuse-mschap-v2 nomppe", "noauth [CHAP-MD5 PAP] mppe off"},
		{"refuse-pap nomppe", "noauth [MS-CHAPv2 MS-CHAP CHAP-MD5] mppe off"},
		{"refuse-pap refuse-chap refuse-mschap refuse-mschap-v2", "error: every authentication method is refused"},
		{"require-mppe-40", "noauth [MS-CHAPv2 MS-CHAP] mppe required 40-bit"},
		{"require-mppe", "noauth [MS-CHAPv2 MS-CHAP] mppe required 40/128-bit"},
		{"nomppe-128", "error: MPPE with 128-bit keys is required by default"},
		{"mppe required,stateless", "noauth [MS-CHAPv2 MS-CHAP] mppe required 40/56/128-bit"},
		{"mppe-stateful", "noauth [MS-CHAPv2 MS-CHAP] mppe required 128-bit stateful"},
		{"require-mppe-128 nomppe", "error: nomppe (opts:1) contradicts require-mppe-128"},
		// Asking the server to authenticate itself.
		{"auth", "error: auth (opts:1) would make the server authenticate itself to us, which PPTP servers do not do"},
		{"noauth\nrequire-mschap-v2", "error: require-mschap-v2 (opts:2) would make the server authenticate itself"},
		{"auth +chap", "error: auth (opts:1) and +chap (opts:1) would make"},
		{"auth noauth", "noauth [MS-CHAPv2 MS-CHAP] mppe required 128-bit"},
		// pppd: a noauth after require-* cancels it.
		{"require-mschap-v2\nnoauth", "noauth [MS-CHAPv2 MS-CHAP] mppe required 128-bit"},
	})
}

func TestPolicyFiles(t *testing.T) {
	srv, _, err := ParseOptionsFile(filepath.Join("testdata", "debian-pptpd-options"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := srv.ServerPolicy()
	if err != nil || summary(p) != "required [MS-CHAPv2] mppe required 128-bit" {
		t.Errorf("debian server: %s %v", summary(p), err)
	}
	cli, _, err := ParseOptionsFile(filepath.Join("testdata", "interop-peer-pptpi"))
	if err != nil {
		t.Fatal(err)
	}
	p, err = cli.ClientPolicy()
	if err != nil || summary(p) != "noauth [MS-CHAPv2] mppe required 128-bit" {
		t.Errorf("interop client: %s %v", summary(p), err)
	}
	// The single-purpose accessors agree with the combined ones.
	a, err1 := srv.ServerAuth()
	m, err2 := srv.ServerMPPE()
	if err1 != nil || err2 != nil || summary(Policy{a, m}) != "required [MS-CHAPv2] mppe required 128-bit" {
		t.Errorf("ServerAuth/ServerMPPE: %v %v", err1, err2)
	}
	a, err1 = cli.ClientAuth()
	m, err2 = cli.ClientMPPE()
	if err1 != nil || err2 != nil || summary(Policy{a, m}) != "noauth [MS-CHAPv2] mppe required 128-bit" {
		t.Errorf("ClientAuth/ClientMPPE: %v %v", err1, err2)
	}
	if !a.Allows(AuthMSCHAPv2) || a.Allows(AuthPAP) {
		t.Error("Allows wrong")
	}
}

// TestInteropMatrix builds the options files the interop harness writes
// (guest/bin/pptpi-configure) for every auth and MPPE setting, and checks
// what gopptp makes of them.
func TestInteropMatrix(t *testing.T) {
	srvAuth := map[string]string{
		"mschapv2": "require-mschap-v2", "mschap": "require-mschap",
		"chap": "require-chap", "pap": "require-pap", "none": "noauth",
	}
	cliAuth := map[string]string{
		"mschapv2": "refuse-pap refuse-chap refuse-mschap refuse-eap",
		"mschap":   "refuse-pap refuse-chap refuse-mschap-v2 refuse-eap",
		"chap":     "refuse-pap refuse-mschap refuse-mschap-v2 refuse-eap",
		"pap":      "refuse-chap refuse-mschap refuse-mschap-v2 refuse-eap",
		"none":     "",
	}
	mppeOpt := map[string]string{
		"require-128": "require-mppe-128", "require-40": "require-mppe-40",
		"require": "require-mppe", "optional": "", "none": "nomppe",
	}
	mppeWant := map[string]string{
		"require-128": "required 128-bit", "require-40": "required 40-bit",
		"require": "required 40/128-bit", "optional": "required 128-bit", "none": "off",
	}
	method := map[string]string{"mschapv2": "MS-CHAPv2", "mschap": "MS-CHAP", "chap": "CHAP-MD5", "pap": "PAP"}
	for _, auth := range []string{"mschapv2", "mschap", "chap", "pap", "none"} {
		for _, mppe := range []string{"require-128", "require-40", "require", "optional", "none"} {
			for _, stateful := range []bool{false, true} {
				mppeLine := mppeOpt[mppe]
				if stateful && mppe != "none" {
					mppeLine += " mppe-stateful"
				}
				srvText := fmt.Sprintf("name pptpd\n%s\n%s\nnodefaultroute\nlock\nnobsdcomp\nnovj\nnovjccomp\nnologfd\ndebug\nlogfile /x/pppd.log\n\n",
					srvAuth[auth], mppeLine)
				cliText := fmt.Sprintf("pty \"pptp 10.99.0.1 --nolaunchpppd --loglevel 1 \"\nname \"pptpuser\"\nremotename pptpi-server\nipparam pptpi\nlock\nnoauth\n%s\n%s\nnobsdcomp\nnodeflate\n\nlogfile /x/pppd.log\n\n",
					cliAuth[auth], mppeLine)
				name := fmt.Sprintf("%s/%s/stateful=%v", auth, mppe, stateful)

				mppeSum := mppeWant[mppe]
				if stateful && mppe != "none" {
					mppeSum += " stateful"
				}
				keys := mppe == "none" || auth == "mschapv2" || auth == "mschap"

				srv := mustParseOpts(t, srvText)
				sp, err := srv.ServerPolicy()
				switch {
				case auth == "none" && mppe == "none":
					if err != nil || summary(sp) != "noauth [] mppe off" {
						t.Errorf("server %s: %s %v", name, summary(sp), err)
					}
				case !keys || auth == "none":
					if err == nil || !strings.Contains(err.Error(), "nomppe") {
						t.Errorf("server %s: want an error suggesting nomppe, got %s %v", name, summary(sp), err)
					}
				default:
					want := fmt.Sprintf("required [%s] mppe %s", method[auth], mppeSum)
					if err != nil || summary(sp) != want {
						t.Errorf("server %s: got %s %v, want %s", name, summary(sp), err, want)
					}
				}

				cli := mustParseOpts(t, cliText)
				cp, err := cli.ClientPolicy()
				switch {
				case auth == "none":
					want := "noauth [MS-CHAPv2 MS-CHAP] mppe " + mppeSum
					if mppe == "none" {
						want = "noauth [MS-CHAPv2 MS-CHAP CHAP-MD5 PAP] mppe off"
					}
					if err != nil || summary(cp) != want {
						t.Errorf("client %s: got %s %v, want %s", name, summary(cp), err, want)
					}
				case !keys:
					if err == nil || !strings.Contains(err.Error(), "nomppe") {
						t.Errorf("client %s: want an error suggesting nomppe, got %s %v", name, summary(cp), err)
					}
				default:
					want := fmt.Sprintf("noauth [%s] mppe %s", method[auth], mppeSum)
					if err != nil || summary(cp) != want {
						t.Errorf("client %s: got %s %v, want %s", name, summary(cp), err, want)
					}
				}
			}
		}
	}
}

func TestAuthMethodsAndKeyLengths(t *testing.T) {
	if got := allAuth.String(); got != "MS-CHAPv2, MS-CHAP, CHAP-MD5, PAP" {
		t.Errorf("allAuth = %s", got)
	}
	if AuthMethods(0).String() != "none" || KeyLengths(0).String() != "none" {
		t.Error("empty sets")
	}
	if (MPPE40|MPPE128).Strongest() != MPPE128 || MPPE40.Strongest() != MPPE40 || KeyLengths(0).Strongest() != 0 {
		t.Error("Strongest")
	}
	if !(MPPE40 | MPPE56).Has(MPPE56) || MPPE40.Has(MPPE128) || MPPE40.Has(0) {
		t.Error("Has")
	}
	if !AuthMSCHAPv1.ProvidesMPPEKeys() || AuthCHAPMD5.ProvidesMPPEKeys() {
		t.Error("ProvidesMPPEKeys")
	}
	if AuthMethod(99).String() != "AuthMethod(99)" {
		t.Error("unknown method name")
	}
}
