package config

import (
	"fmt"
	"strings"
)

// AuthMethod is a PPP authentication protocol.
type AuthMethod uint8

// Authentication methods. Each is one bit, so that they combine into
// AuthMethods.
const (
	AuthPAP AuthMethod = 1 << iota
	AuthCHAPMD5
	AuthMSCHAPv1
	AuthMSCHAPv2
)

// authPreference lists the methods in the server's order of preference.
var authPreference = [...]AuthMethod{AuthMSCHAPv2, AuthMSCHAPv1, AuthCHAPMD5, AuthPAP}

// String returns the protocol's usual name.
func (m AuthMethod) String() string {
	switch m {
	case AuthPAP:
		return "PAP"
	case AuthCHAPMD5:
		return "CHAP-MD5"
	case AuthMSCHAPv1:
		return "MS-CHAP"
	case AuthMSCHAPv2:
		return "MS-CHAPv2"
	default:
		return fmt.Sprintf("AuthMethod(%d)", uint8(m))
	}
}

// option returns the suffix pppd uses in require-X and refuse-X.
func (m AuthMethod) option() string {
	switch m {
	case AuthPAP:
		return "pap"
	case AuthCHAPMD5:
		return "chap"
	case AuthMSCHAPv1:
		return "mschap"
	default:
		return "mschap-v2"
	}
}

// ProvidesMPPEKeys reports whether the method yields the keys MPPE
// needs (only the MS-CHAP versions do).
func (m AuthMethod) ProvidesMPPEKeys() bool { return m == AuthMSCHAPv1 || m == AuthMSCHAPv2 }

// AuthMethods is a set of authentication methods.
type AuthMethods uint8

const (
	allAuth  = AuthMethods(AuthPAP | AuthCHAPMD5 | AuthMSCHAPv1 | AuthMSCHAPv2)
	mppeAuth = AuthMethods(AuthMSCHAPv1 | AuthMSCHAPv2)
)

// Has reports whether m is in the set.
func (s AuthMethods) Has(m AuthMethod) bool { return s&AuthMethods(m) != 0 }

// List returns the methods of the set in the server's order of
// preference: MS-CHAPv2, MS-CHAP, CHAP-MD5, PAP.
func (s AuthMethods) List() []AuthMethod {
	var l []AuthMethod
	for _, m := range authPreference {
		if s.Has(m) {
			l = append(l, m)
		}
	}
	return l
}

// String lists the methods, "none" for the empty set.
func (s AuthMethods) String() string {
	l := s.List()
	if len(l) == 0 {
		return "none"
	}
	names := make([]string, len(l))
	for i, m := range l {
		names[i] = m.String()
	}
	return strings.Join(names, ", ")
}

// KeyLengths is a set of MPPE session key lengths.
type KeyLengths uint8

// MPPE key lengths.
const (
	MPPE40 KeyLengths = 1 << iota
	MPPE56
	MPPE128
)

// Has reports whether every length in k is in the set.
func (s KeyLengths) Has(k KeyLengths) bool { return k != 0 && s&k == k }

// Strongest returns the longest key length of the set, or 0.
func (s KeyLengths) Strongest() KeyLengths {
	for _, k := range []KeyLengths{MPPE128, MPPE56, MPPE40} {
		if s.Has(k) {
			return k
		}
	}
	return 0
}

// String lists the lengths, such as "40/128-bit", or "none".
func (s KeyLengths) String() string {
	var parts []string
	for _, k := range []struct {
		l    KeyLengths
		name string
	}{{MPPE40, "40"}, {MPPE56, "56"}, {MPPE128, "128"}} {
		if s.Has(k.l) {
			parts = append(parts, k.name)
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, "/") + "-bit"
}

// AuthPolicy is the effective authentication policy of one role.
type AuthPolicy struct {
	// Required is set for a server that makes the peer authenticate.
	// It is always false for a client.
	Required bool
	// Methods are the methods allowed, in the server's order of
	// preference. For a server these are the methods it may ask for; for
	// a client, those it agrees to authenticate with.
	Methods []AuthMethod
}

// Allows reports whether m is among the allowed methods.
func (p AuthPolicy) Allows(m AuthMethod) bool {
	for _, x := range p.Methods {
		if x == m {
			return true
		}
	}
	return false
}

// MPPEPolicy is the effective MPPE (encryption) policy of one role.
type MPPEPolicy struct {
	// Required says the link must not carry data without MPPE.
	Required bool
	// Allowed are the key lengths that may be negotiated; empty means
	// MPPE is off.
	Allowed KeyLengths
	// AllowStateful allows stateful MPPE if the peer insists; stateless
	// is always asked for first, and is the only mode allowed otherwise.
	AllowStateful bool
	// RequireStateful (require-mppe-stateful, our extension) asks for
	// stateful mode and accepts nothing else.
	RequireStateful bool
}

// Enabled reports whether MPPE may be negotiated at all.
func (p MPPEPolicy) Enabled() bool { return p.Allowed != 0 }

// Policy is the effective authentication and MPPE policy of one role.
type Policy struct {
	Auth AuthPolicy
	MPPE MPPEPolicy
}

// ServerAuth returns the server's authentication policy; see
// ServerPolicy.
func (o *PPPOptions) ServerAuth() (AuthPolicy, error) {
	p, err := o.ServerPolicy()
	return p.Auth, err
}

// ServerMPPE returns the server's MPPE policy; see ServerPolicy.
func (o *PPPOptions) ServerMPPE() (MPPEPolicy, error) {
	p, err := o.ServerPolicy()
	return p.MPPE, err
}

// ClientAuth returns the client's authentication policy; see
// ClientPolicy.
func (o *PPPOptions) ClientAuth() (AuthPolicy, error) {
	p, err := o.ClientPolicy()
	return p.Auth, err
}

// ClientMPPE returns the client's MPPE policy; see ClientPolicy.
func (o *PPPOptions) ClientMPPE() (MPPEPolicy, error) {
	p, err := o.ClientPolicy()
	return p.MPPE, err
}

// ServerPolicy resolves the options into the policy of a PPTP server,
// whose peer authenticates to it. The rules:
//
//   - require-pap, require-chap, require-mschap and require-mschap-v2
//     (and +pap, +chap, ...) each allow their method; together they
//     allow several. As in pppd, a server asks only for required
//     methods.
//   - With no require-* option, "auth" allows every method except those
//     refused with refuse-* (pppd's "auth" asks for any method).
//   - With neither, the server uses gopptp's strong default: MS-CHAPv2
//     only.
//   - refuse-X, which in pppd only concerns authenticating ourselves to
//     the peer, is read the way pptpd-options files use it: the server
//     does not allow X. require-X together with refuse-X is an error.
//   - noauth lets peers in without authentication; together with a
//     require-* option it is an error.
//   - MPPE: see mppe rules below. When MPPE is required, methods that
//     cannot provide MPPE keys (PAP, CHAP-MD5) are dropped from the
//     allowed list, since such a session could never come up; if none is
//     left (only PAP/CHAP-MD5 allowed, or noauth), it is an error that
//     says to add nomppe or an MS-CHAP method.
//
// MPPE rules, common to both roles:
//
//   - With no MPPE option at all, MPPE with 128-bit keys is required
//     (gopptp's default; pppd's default is no MPPE). nomppe-40 and
//     nomppe-stateful leave the default alone; nomppe-128 alone
//     contradicts it and is an error asking for require-mppe-40 or
//     nomppe.
//   - require-mppe requires MPPE with 40- or 128-bit keys,
//     require-mppe-40 and require-mppe-128 require it with the keys
//     named (both together allow both); nomppe-40 and nomppe-128 remove
//     a length. "mppe required,..." and "mppe ..." (the older syntax)
//     require or allow 40-, 56- and 128-bit keys less those the no40,
//     no56 and no128 modifiers remove.
//   - nomppe or noccp turn MPPE off; combined with an option requiring
//     MPPE they are an error, as is refusing a length that was required
//     by name, or refusing every length.
//   - Stateful mode is allowed only after mppe-stateful (the later of
//     mppe-stateful and nomppe-stateful/"mppe stateless" wins).
func (o *PPPOptions) ServerPolicy() (Policy, error) {
	if err := o.checkRADIUS(); err != nil {
		return Policy{}, err
	}
	mppe, mppeWhy, err := o.mppePolicy()
	if err != nil {
		return Policy{}, err
	}
	auth, err := o.serverAuth()
	if err != nil {
		return Policy{}, err
	}
	if !mppe.Required {
		return Policy{Auth: auth.policy(), MPPE: mppe}, nil
	}
	if !auth.required {
		return Policy{}, fmt.Errorf("%s lets peers in without authentication, but MPPE is required %s and its keys come from MS-CHAP authentication; add nomppe to run unencrypted, or remove noauth",
			o.ref("noauth"), mppeWhy)
	}
	if auth.methods&mppeAuth == 0 {
		return Policy{}, fmt.Errorf("%s: only %s would be allowed, which cannot provide MPPE keys, but MPPE is required %s; add require-mschap-v2, or add nomppe to run unencrypted",
			auth.why, auth.methods, mppeWhy)
	}
	auth.methods &= mppeAuth
	return Policy{Auth: auth.policy(), MPPE: mppe}, nil
}

// ClientPolicy resolves the options into the policy of a PPTP client,
// which authenticates to the server. The client agrees to whichever
// method the server asks for unless it is refused with refuse-*
// (-pap, ...). When MPPE is required (the MPPE rules are those of
// ServerPolicy, including the default of requiring 128-bit keys unless
// nomppe or require-mppe-40 say otherwise), PAP and CHAP-MD5 are
// refused too: they cannot provide MPPE keys, and PAP would send the
// password in clear before the session failed anyway.
//
// "auth" or a require-* option, not cancelled by a later noauth, asks the
// server to authenticate itself to the client, which PPTP servers do not
// do; it is an error (pppd would fail at connection time).
func (o *PPPOptions) ClientPolicy() (Policy, error) {
	mppe, mppeWhy, err := o.mppePolicy()
	if err != nil {
		return Policy{}, err
	}
	if o.peerAuthDemanded() {
		var refs []string
		if o.Auth == ToggleOn {
			refs = append(refs, o.ref("auth"))
		}
		refs = append(refs, o.requireRefs(o.RequireAuth)...)
		return Policy{}, fmt.Errorf("%s would make the server authenticate itself to us, which PPTP servers do not do; remove it (refuse-* options choose how we authenticate), or add noauth",
			strings.Join(refs, " and "))
	}
	methods := allAuth &^ o.RefuseAuth
	if methods == 0 {
		return Policy{}, fmt.Errorf("every authentication method is refused (%s); remove one of the refuse-* options",
			strings.Join(o.refuseRefs(allAuth), ", "))
	}
	if mppe.Required {
		if methods&mppeAuth == 0 {
			return Policy{}, fmt.Errorf("%s leave only %s, which cannot provide MPPE keys, but MPPE is required %s; remove one of them, or add nomppe to run unencrypted",
				strings.Join(o.refuseRefs(mppeAuth), " and "), methods, mppeWhy)
		}
		methods &= mppeAuth
	}
	return Policy{Auth: AuthPolicy{Methods: methods.List()}, MPPE: mppe}, nil
}

// serverAuthResult is the server's authentication choice before MPPE is
// taken into account.
type serverAuthResult struct {
	required bool
	methods  AuthMethods
	// why names the options that chose the methods, for messages.
	why string
}

func (r serverAuthResult) policy() AuthPolicy {
	return AuthPolicy{Required: r.required, Methods: r.methods.List()}
}

func (o *PPPOptions) serverAuth() (serverAuthResult, error) {
	req, ref := o.RequireAuth, o.RefuseAuth
	if o.Auth == ToggleOff {
		if req != 0 {
			return serverAuthResult{}, fmt.Errorf("%s contradicts %s: noauth lets peers in without authentication; remove one of them",
				o.ref("noauth"), strings.Join(o.requireRefs(req), " and "))
		}
		return serverAuthResult{}, nil
	}
	if both := req & ref; both != 0 {
		m := both.List()[0]
		return serverAuthResult{}, fmt.Errorf("%s contradicts %s; remove one of them",
			o.ref("require-"+m.option()), o.ref("refuse-"+m.option()))
	}
	switch {
	case req != 0:
		return serverAuthResult{true, req, strings.Join(o.requireRefs(req), " and ")}, nil
	case o.Auth == ToggleOn:
		m := allAuth &^ ref
		if m == 0 {
			return serverAuthResult{}, fmt.Errorf("%s requires authentication, but every method is refused (%s); remove a refuse-* option",
				o.ref("auth"), strings.Join(o.refuseRefs(allAuth), ", "))
		}
		why := o.ref("auth")
		if ref != 0 {
			why += " with " + strings.Join(o.refuseRefs(ref), " and ")
		}
		return serverAuthResult{true, m, why}, nil
	default:
		if ref.Has(AuthMSCHAPv2) {
			return serverAuthResult{}, fmt.Errorf("the server requires MS-CHAPv2 by default, but %s refuses it; add the require-* option of the method to use (for example require-mschap)",
				o.ref("refuse-mschap-v2"))
		}
		return serverAuthResult{true, AuthMethods(AuthMSCHAPv2), "the default"}, nil
	}
}

// peerAuthDemanded reports whether the options, as pppd reads them, make
// the peer authenticate to us: auth or a require-* option given after the
// last noauth.
func (o *PPPOptions) peerAuthDemanded() bool {
	last := 0
	names := []string{"auth"}
	for _, m := range o.RequireAuth.List() {
		names = append(names, "require-"+m.option())
	}
	for _, n := range names {
		if s, ok := o.seen[n]; ok {
			last = max(last, s.seq)
		}
	}
	if last == 0 {
		return false
	}
	no, ok := o.seen["noauth"]
	return !ok || no.seq < last
}

func (o *PPPOptions) requireRefs(s AuthMethods) []string {
	var refs []string
	for _, m := range s.List() {
		refs = append(refs, o.ref("require-"+m.option()))
	}
	return refs
}

func (o *PPPOptions) refuseRefs(s AuthMethods) []string {
	var refs []string
	for _, m := range s.List() {
		if o.RefuseAuth.Has(m) {
			refs = append(refs, o.ref("refuse-"+m.option()))
		}
	}
	return refs
}

// mppePolicy resolves the MPPE options (see ServerPolicy). The string
// says why MPPE is required, for messages: "by default" or "by OPTION
// (pos)".
func (o *PPPOptions) mppePolicy() (MPPEPolicy, string, error) {
	m := o.MPPE
	explicit := m.Required || m.Optional
	asking := o.firstRef("require-mppe", "require-mppe-128", "require-mppe-40", "mppe")
	switch {
	case m.Off && explicit:
		return MPPEPolicy{}, "", fmt.Errorf("%s contradicts %s; remove one of them", o.ref("nomppe"), asking)
	case m.Off:
		return MPPEPolicy{}, "", nil
	case m.NoCCP && explicit:
		return MPPEPolicy{}, "", fmt.Errorf("%s turns off CCP, which carries MPPE, but %s asks for MPPE; remove one of them", o.ref("noccp"), asking)
	case m.NoCCP:
		return MPPEPolicy{}, "", nil
	}
	if c := m.Named & m.Refused; c != 0 {
		named, refused := "require-mppe-128", "nomppe-128"
		if c.Has(MPPE40) {
			named, refused = "require-mppe-40", "nomppe-40"
		}
		if !o.IsSet(refused) {
			refused = "mppe"
		}
		return MPPEPolicy{}, "", fmt.Errorf("%s contradicts %s; remove one of them", o.ref(named), o.ref(refused))
	}
	p := MPPEPolicy{Required: true, AllowStateful: m.Stateful == ToggleOn}
	p.RequireStateful = p.AllowStateful && m.StatefulRequired
	why := "by default"
	if !explicit {
		p.Allowed = MPPE128 &^ m.Refused
		if p.Allowed == 0 {
			return MPPEPolicy{}, "", fmt.Errorf("MPPE with 128-bit keys is required by default, but %s refuses 128-bit keys; add require-mppe-40 to use 40-bit keys, or nomppe to run unencrypted",
				o.firstRef("nomppe-128", "mppe"))
		}
		return p, why, nil
	}
	p.Required = m.Required
	if p.Required {
		why = "by " + o.firstRef("require-mppe", "require-mppe-128", "require-mppe-40", "mppe")
	}
	p.Allowed = m.Lengths &^ m.Refused
	if p.Allowed == 0 {
		return MPPEPolicy{}, "", fmt.Errorf("%s asks for MPPE, but every key length it allows is refused by %s; remove a refusal, or use nomppe",
			asking, o.firstRef("nomppe-128", "nomppe-40", "mppe"))
	}
	return p, why, nil
}

// firstRef returns ref() of the first of the options that was given.
func (o *PPPOptions) firstRef(options ...string) string {
	for _, n := range options {
		if o.IsSet(n) {
			return o.ref(n)
		}
	}
	if len(options) == 0 {
		return ""
	}
	return options[0]
}
