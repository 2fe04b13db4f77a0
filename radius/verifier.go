package radius

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2866"
	"layeh.com/radius/rfc2869"

	"github.com/gopptp/gopptp/mppe"
	"github.com/gopptp/gopptp/mschap"
	"github.com/gopptp/gopptp/ppp"
	"github.com/gopptp/gopptp/ppp/auth"
	"github.com/gopptp/gopptp/ppp/ccp"
)

// RFC 2865 values this package sends and checks.
const (
	serviceTypeFramed  = 2 // Service-Type Framed-User
	framedProtocolPPP  = 1 // Framed-Protocol PPP
	nasPortTypeVirtual = 5 // NAS-Port-Type Virtual
	acctAuthRADIUS     = 1 // Acct-Authentic RADIUS
)

// Framed-IP-Address values with a special meaning (RFC 2865 section 5.8).
var (
	addrPeerChooses = netip.AddrFrom4([4]byte{255, 255, 255, 255})
	addrNASChooses  = netip.AddrFrom4([4]byte{255, 255, 255, 254})
)

// MPPE policy values of MS-MPPE-Encryption-Policy (RFC 2548 section 2.4.4).
const (
	MPPEPolicyAllowed  = 1
	MPPEPolicyRequired = 2
)

// Bits of MS-MPPE-Encryption-Types (RFC 2548 section 2.4.5; 56-bit is
// Microsoft's later addition, which Windows NPS sends).
const (
	MPPETypes40  = 0x2
	MPPETypes128 = 0x4
	MPPETypes56  = 0x8
)

// Grant is what an Access-Accept gives a session beyond auth.Result.
type Grant struct {
	// Server is the RADIUS server that accepted the login.
	Server string
	// User is the name to account under: the User-Name of the
	// Access-Accept if there was one (RFC 2865 section 5.1), else the one
	// sent (the peer's, with Config.DefaultRealm).
	User string
	// Addr is the Framed-IP-Address (also in auth.Result.Addr); invalid
	// when none was given or it was one of the special values below.
	Addr netip.Addr
	// PeerChoosesAddr is Framed-IP-Address 255.255.255.255: the peer may
	// propose its address. (255.255.255.254, "the NAS chooses", is the
	// same as none.)
	PeerChoosesAddr bool
	// Pool is the Framed-Pool to take the address from.
	Pool string
	// Routes are the Framed-Route subnets behind the peer, routed
	// through the session.
	Routes []netip.Prefix
	// IPv6Prefix is the Framed-IPv6-Prefix (RFC 3162): the /64 the session
	// announces to the peer for its addresses, instead of one from the
	// server's ipv6-prefix pool. Invalid when none was given.
	IPv6Prefix netip.Prefix
	// DelegatedPrefixes are the Delegated-IPv6-Prefix attributes (RFC
	// 4818): prefixes of /64 or shorter routed to the session, for a
	// router behind the peer.
	DelegatedPrefixes []netip.Prefix
	// SessionTimeout and IdleTimeout end the session (0: no limit).
	SessionTimeout, IdleTimeout time.Duration
	// InterimInterval is the Acct-Interim-Interval (raised to
	// MinInterimInterval); 0 when the server set none.
	InterimInterval time.Duration
	// Class attributes to echo in accounting (RFC 2865 section 5.25).
	Class [][]byte
	// MTU is the Framed-MTU, 0 if none.
	MTU int
	// DNS and NBNS are the MS-Primary/Secondary-DNS-Server and -NBNS-Server.
	DNS, NBNS [2]netip.Addr
	// MPPEPolicy is MS-MPPE-Encryption-Policy (MPPEPolicyAllowed or
	// MPPEPolicyRequired; 0: none sent) and MPPETypes
	// MS-MPPE-Encryption-Types (0: none sent).
	MPPEPolicy, MPPETypes uint32
	// Message is the Reply-Message, made printable.
	Message string
}

// ApplyMPPE returns the CCP configuration of the session after the
// server's MPPE policy: Encryption-Types can only take key lengths away
// from what is configured, never add any (as pppd's radius plugin does),
// and Encryption-Required makes MPPE mandatory, so that with no length
// left the session fails rather than run in clear.
func (g *Grant) ApplyMPPE(c ccp.Config) ccp.Config {
	if g == nil {
		return c
	}
	if g.MPPEPolicy == MPPEPolicyAllowed || g.MPPEPolicy == MPPEPolicyRequired {
		if g.MPPETypes != 0 {
			c.Allow40 = c.Allow40 && g.MPPETypes&MPPETypes40 != 0
			c.Allow56 = c.Allow56 && g.MPPETypes&MPPETypes56 != 0
			c.Allow128 = c.Allow128 && g.MPPETypes&MPPETypes128 != 0
		}
	}
	if g.MPPEPolicy == MPPEPolicyRequired {
		c.Required = true
	}
	return c
}

// Call describes the PPTP call being authenticated beyond what
// auth.Request says.
type Call struct {
	// NASPort is sent as NAS-Port when HasNASPort: our Call ID.
	NASPort    uint32
	HasNASPort bool
	// SessionID, when set, is sent as Acct-Session-Id so that the server
	// can tie the login to the accounting of the session.
	SessionID string
	// CalledStationID overrides Config.CalledStationID.
	CalledStationID string
}

// Verifier authenticates logins with the Client's servers. It implements
// auth.Verifier.
type Verifier struct {
	c *Client
}

// NewVerifier returns a Verifier using c.
func NewVerifier(c *Client) *Verifier { return &Verifier{c: c} }

// Verify implements auth.Verifier: Authenticate without call details,
// dropping the Grant.
func (v *Verifier) Verify(ctx context.Context, req *auth.Request) (*auth.Result, error) {
	res, _, err := v.Authenticate(ctx, req, Call{})
	return res, err
}

// ForCall returns an auth.Verifier for one call that sends call's details
// and keeps the Grant of its last accepted login.
func (v *Verifier) ForCall(call Call) *CallVerifier {
	return &CallVerifier{v: v, call: call}
}

// CallVerifier is the auth.Verifier of one call; see Verifier.ForCall.
type CallVerifier struct {
	v    *Verifier
	call Call

	mu    sync.Mutex
	grant *Grant
}

// Verify implements auth.Verifier.
func (cv *CallVerifier) Verify(ctx context.Context, req *auth.Request) (*auth.Result, error) {
	res, g, err := cv.v.Authenticate(ctx, req, cv.call)
	if g != nil {
		cv.mu.Lock()
		cv.grant = g
		cv.mu.Unlock()
	}
	return res, err
}

// Grant returns the Grant of the last accepted login, nil if none was.
func (cv *CallVerifier) Grant() *Grant {
	cv.mu.Lock()
	defer cv.mu.Unlock()
	return cv.grant
}

// Authenticate sends req to the RADIUS servers. A refused login is a Result
// with OK false and a Reason, not an error; the error is for a login that
// could not be decided (no server answered, ctx ended). The Grant is
// non-nil exactly when the login succeeded.
func (v *Verifier) Authenticate(ctx context.Context, req *auth.Request, call Call) (*auth.Result, *Grant, error) {
	build, bad := v.request(req, call)
	if bad != "" {
		return &auth.Result{Reason: bad}, nil, nil
	}
	r, err := v.c.exchange(ctx, radius.CodeAccessRequest, build)
	if err != nil {
		return nil, nil, err
	}
	switch r.Code {
	case radius.CodeAccessReject:
		return &auth.Result{Reason: rejectReason(r)}, nil, nil
	case radius.CodeAccessChallenge:
		// A PPP authenticator has no way to put the server's challenge to
		// the peer.
		return &auth.Result{Reason: fmt.Sprintf("RADIUS server %s sent an Access-Challenge, which PPP cannot relay", r.server)}, nil, nil
	}
	res, g := accept(req, r)
	if !res.OK {
		return res, nil, nil
	}
	if g.User == "" {
		g.User = v.c.userName(req.User)
	}
	return res, g, nil
}

// request checks req and returns the builder of its Access-Request, or why
// it cannot be sent.
func (v *Verifier) request(req *auth.Request, call Call) (buildFunc, string) {
	user := v.c.userName(req.User)
	if req.User == "" || len(user) > 253 {
		return nil, fmt.Sprintf("user name of %d bytes cannot be sent to RADIUS", len(user))
	}
	var creds func(p *radius.Packet) error
	switch req.Method {
	case ppp.AuthPAP:
		if len(req.Password) > 128 {
			return nil, "PAP password longer than RADIUS allows (128 bytes)"
		}
		pw := req.Password
		creds = func(p *radius.Packet) error {
			// RFC 2865 section 5.2 hides at least one 16-byte block.
			a, err := radius.NewUserPassword(pw, p.Secret, p.Authenticator[:])
			if err != nil {
				return err
			}
			p.Add(rfc2865.UserPassword_Type, a)
			return nil
		}
	case ppp.AuthCHAPMD5:
		if len(req.Response) != 16 || len(req.Challenge) == 0 || len(req.Challenge) > 253 {
			return nil, "malformed CHAP response"
		}
		cp := append([]byte{req.ID}, req.Response...)
		chal := req.Challenge
		creds = func(p *radius.Packet) error {
			p.Add(rfc2865.CHAPPassword_Type, cp)
			p.Add(rfc2865.CHAPChallenge_Type, chal)
			return nil
		}
	case ppp.AuthMSCHAPv1, ppp.AuthMSCHAPv2:
		chalLen, attr, name := 8, byte(msCHAPResponse), "MS-CHAP"
		if req.Method == ppp.AuthMSCHAPv2 {
			chalLen, attr, name = 16, msCHAP2Response, "MS-CHAP-v2"
		}
		if len(req.Response) != 49 || len(req.Challenge) != chalLen {
			return nil, "malformed " + name + " response"
		}
		// RFC 2548 sections 2.1.3 and 2.3.2: Ident, Flags, then the 48
		// bytes of the PPP value (LM-Response and NT-Response, or
		// Peer-Challenge, Reserved and Response); PPP puts the flag last.
		resp := make([]byte, 0, 50)
		resp = append(resp, req.ID, req.Response[48])
		resp = append(resp, req.Response[:48]...)
		chal := req.Challenge
		creds = func(p *radius.Packet) error {
			if err := addMS(p, msCHAPChallenge, chal); err != nil {
				return err
			}
			return addMS(p, attr, resp)
		}
	default:
		return nil, fmt.Sprintf("method %v cannot be checked by RADIUS", req.Method)
	}
	c := v.c
	return func(p *radius.Packet, _ time.Duration) error {
		p.Add(rfc2865.UserName_Type, radius.Attribute(user))
		if err := creds(p); err != nil {
			return err
		}
		c.addNAS(p, req.Peer, call)
		if call.SessionID != "" {
			p.Add(rfc2866.AcctSessionID_Type, radius.Attribute(call.SessionID))
		}
		return nil
	}, ""
}

// userName is the User-Name sent for the peer's name.
func (c *Client) userName(peer string) string {
	if c.cfg.DefaultRealm != "" && !strings.Contains(peer, "@") {
		return peer + "@" + c.cfg.DefaultRealm
	}
	return peer
}

// addNAS adds the attributes that describe the NAS and the call, common to
// Access- and Accounting-Requests.
func (c *Client) addNAS(p *radius.Packet, peer netip.Addr, call Call) {
	if c.nasID != "" {
		p.Add(rfc2865.NASIdentifier_Type, radius.Attribute(c.nasID))
	}
	if a := c.cfg.NASIPAddress; a.Is4() {
		p.Add(rfc2865.NASIPAddress_Type, a.AsSlice())
	} else if a.Is6() {
		p.Add(nasIPv6AddressType, a.AsSlice())
	}
	if call.HasNASPort {
		p.Add(rfc2865.NASPort_Type, radius.NewInteger(call.NASPort))
	}
	p.Add(rfc2865.NASPortType_Type, radius.NewInteger(nasPortTypeVirtual))
	p.Add(rfc2865.ServiceType_Type, radius.NewInteger(serviceTypeFramed))
	p.Add(rfc2865.FramedProtocol_Type, radius.NewInteger(framedProtocolPPP))
	if peer.IsValid() {
		p.Add(rfc2865.CallingStationID_Type, radius.Attribute(peer.Unmap().String()))
	}
	called := c.cfg.CalledStationID
	if call.CalledStationID != "" {
		called = call.CalledStationID
	}
	if called != "" && len(called) <= 253 {
		p.Add(rfc2865.CalledStationID_Type, radius.Attribute(called))
	}
}

// IPv6 attributes: NAS-IPv6-Address and Framed-IPv6-Prefix (RFC 3162),
// Delegated-IPv6-Prefix (RFC 4818).
const (
	nasIPv6AddressType      radius.Type = 95
	framedIPv6PrefixType    radius.Type = 97
	delegatedIPv6PrefixType radius.Type = 123
)

// parseIPv6Prefix reads an attribute in RFC 3162's prefix format: a
// reserved byte, the prefix length, then as many bytes of the prefix as
// the server sends (at most 16). Bits past the length are cleared rather
// than refused, as servers differ in whether they send them.
func parseIPv6Prefix(a radius.Attribute, name string) (netip.Prefix, error) {
	if len(a) < 2 || len(a) > 18 {
		return netip.Prefix{}, fmt.Errorf("%s of %d bytes", name, len(a))
	}
	bits := int(a[1])
	if bits > 128 || (bits+7)/8 > len(a)-2 {
		return netip.Prefix{}, fmt.Errorf("%s with length /%d in %d bytes", name, bits, len(a)-2)
	}
	var b [16]byte
	copy(b[:], a[2:])
	p := netip.PrefixFrom(netip.AddrFrom16(b), bits).Masked()
	if !p.Addr().IsGlobalUnicast() || p.Addr().Is4In6() {
		return netip.Prefix{}, fmt.Errorf("%s %v is not a global unicast prefix", name, p)
	}
	return p, nil
}

// ipv6PrefixAttribute encodes p in RFC 3162's prefix format, with only
// the bytes the length covers.
func ipv6PrefixAttribute(p netip.Prefix) radius.Attribute {
	a := p.Masked().Addr().As16()
	return append(radius.Attribute{0, byte(p.Bits())}, a[:(p.Bits()+7)/8]...)
}

// rejectReason explains an Access-Reject for the log.
func rejectReason(r *reply) string {
	var b strings.Builder
	fmt.Fprintf(&b, "rejected by RADIUS server %s", r.server)
	for _, a := range msAttributes(r.Packet) {
		if a.typ == msCHAPError && len(a.val) > 1 {
			// Ident, then "E=691 R=0 C=... V=3".
			fmt.Fprintf(&b, ": MS-CHAP-Error %s", ppp.Printable(a.val[1:], 128))
			break
		}
	}
	if m := replyMessage(r.Packet); m != "" {
		fmt.Fprintf(&b, ": %s", m)
	}
	return b.String()
}

// replyMessage returns the Reply-Message attributes, joined and printable.
func replyMessage(p *radius.Packet) string {
	var parts []string
	for _, avp := range p.Attributes {
		if avp.Type == rfc2865.ReplyMessage_Type {
			parts = append(parts, ppp.Printable(avp.Attribute, 128))
		}
	}
	return strings.Join(parts, " ")
}

// accept turns an Access-Accept into the Result and Grant, or into a
// failed Result when the accept is unusable (as pppd's radius_setparams
// refuses a wrong Service-Type, a bad address or a missing MS-CHAP2-Success).
func accept(req *auth.Request, r *reply) (*auth.Result, *Grant) {
	secret := r.secret
	fail := func(format string, args ...any) (*auth.Result, *Grant) {
		return &auth.Result{Reason: fmt.Sprintf("Access-Accept from %s unusable: ", r.server) + fmt.Sprintf(format, args...)}, nil
	}
	res := &auth.Result{OK: true}
	g := &Grant{Server: r.server, Message: replyMessage(r.Packet)}
	integer := func(a radius.Attribute, name string) (uint32, error) {
		v, err := radius.Integer(a)
		if err != nil {
			return 0, fmt.Errorf("%s of %d bytes", name, len(a))
		}
		return v, nil
	}
	for _, avp := range r.Attributes {
		a := avp.Attribute
		switch avp.Type {
		case rfc2865.ServiceType_Type:
			v, err := integer(a, "Service-Type")
			if err != nil {
				return fail("%v", err)
			}
			if v != serviceTypeFramed {
				return fail("Service-Type %d, not Framed-User", v)
			}
		case rfc2865.FramedProtocol_Type:
			v, err := integer(a, "Framed-Protocol")
			if err != nil {
				return fail("%v", err)
			}
			if v != framedProtocolPPP {
				return fail("Framed-Protocol %d, not PPP", v)
			}
		case rfc2865.FramedIPAddress_Type:
			if len(a) != 4 {
				return fail("Framed-IP-Address of %d bytes", len(a))
			}
			addr := netip.AddrFrom4([4]byte(a))
			switch {
			case addr == addrPeerChooses:
				g.PeerChoosesAddr = true
			case addr == addrNASChooses:
			case !addr.IsGlobalUnicast():
				return fail("Framed-IP-Address %v is not a unicast address", addr)
			default:
				g.Addr, res.Addr = addr, addr
			}
		case rfc2869.FramedPool_Type:
			g.Pool = ppp.Printable(a, 253)
		case rfc2865.FramedRoute_Type:
			p, err := parseFramedRoute(string(a))
			if err != nil {
				return fail("%v", err)
			}
			g.Routes = append(g.Routes, p)
		case framedIPv6PrefixType:
			p, err := parseIPv6Prefix(a, "Framed-IPv6-Prefix")
			if err != nil {
				return fail("%v", err)
			}
			// The peer forms its addresses from the prefix and its
			// interface identifier (SLAAC), which takes a /64.
			if p.Bits() != 64 {
				return fail("Framed-IPv6-Prefix %v is not a /64", p)
			}
			if g.IPv6Prefix.IsValid() && g.IPv6Prefix != p {
				return fail("two Framed-IPv6-Prefix attributes (%v and %v); a session has one /64", g.IPv6Prefix, p)
			}
			g.IPv6Prefix = p
		case delegatedIPv6PrefixType:
			p, err := parseIPv6Prefix(a, "Delegated-IPv6-Prefix")
			if err != nil {
				return fail("%v", err)
			}
			// Routing works on the upper 64 bits: longer prefixes
			// would cut into interface identifiers.
			if p.Bits() > 64 || p.Bits() < 16 {
				return fail("Delegated-IPv6-Prefix %v is not between /16 and /64", p)
			}
			g.DelegatedPrefixes = append(g.DelegatedPrefixes, p)
		case rfc2865.SessionTimeout_Type:
			v, err := integer(a, "Session-Timeout")
			if err != nil {
				return fail("%v", err)
			}
			g.SessionTimeout = time.Duration(v) * time.Second
		case rfc2865.IdleTimeout_Type:
			v, err := integer(a, "Idle-Timeout")
			if err != nil {
				return fail("%v", err)
			}
			g.IdleTimeout = time.Duration(v) * time.Second
		case rfc2869.AcctInterimInterval_Type:
			v, err := integer(a, "Acct-Interim-Interval")
			if err != nil {
				return fail("%v", err)
			}
			if v > 0 {
				g.InterimInterval = max(time.Duration(v)*time.Second, MinInterimInterval)
			}
		case rfc2865.Class_Type:
			g.Class = append(g.Class, append([]byte(nil), a...))
		case rfc2865.UserName_Type:
			if len(a) > 0 {
				g.User = string(a)
			}
		case rfc2865.FramedMTU_Type:
			v, err := integer(a, "Framed-MTU")
			if err != nil {
				return fail("%v", err)
			}
			g.MTU = int(min(v, 65535))
		}
	}

	var haveSend, haveRecv, haveV1Keys, haveSuccess bool
	for _, a := range msAttributes(r.Packet) {
		switch a.typ {
		case msCHAP2Success:
			// Ident, then "S=" and 40 hex digits (RFC 2548 section 2.3.3).
			if len(a.val) < 43 || a.val[0] != req.ID {
				return fail("malformed MS-CHAP2-Success")
			}
			sum, _, err := mschap.ParseSuccess(string(a.val[1:43]))
			if err != nil {
				return fail("MS-CHAP2-Success: %v", err)
			}
			res.AuthenticatorResponse = "S=" + strings.ToUpper(hex.EncodeToString(sum[:]))
			haveSuccess = true
		case msMPPESendKey:
			k, err := mppeKey(a.val, secret, r.reqAuth)
			if err != nil {
				return fail("MS-MPPE-Send-Key: %v", err)
			}
			// RFC 2548 section 2.4.2: the key for packets from the NAS to
			// the peer.
			res.SendKey, haveSend = k, true
		case msMPPERecvKey:
			k, err := mppeKey(a.val, secret, r.reqAuth)
			if err != nil {
				return fail("MS-MPPE-Recv-Key: %v", err)
			}
			res.RecvKey, haveRecv = k, true
		case msCHAPMPPEKeys:
			if req.Method != ppp.AuthMSCHAPv1 {
				continue // only MS-CHAPv1 has the challenge it needs
			}
			hh, err := chapMPPEKeys(a.val, secret, r.reqAuth)
			if err != nil {
				return fail("MS-CHAP-MPPE-Keys: %v", err)
			}
			k := mppe.StartKeyV1(hh, [8]byte(req.Challenge))
			res.SendKey, res.RecvKey, haveV1Keys = k, k, true
		case msMPPEEncryptionPolicy, msMPPEEncryptionTypes:
			if len(a.val) != 4 {
				return fail("MS-MPPE-Encryption-Policy/Types of %d bytes", len(a.val))
			}
			if a.typ == msMPPEEncryptionPolicy {
				g.MPPEPolicy = binary.BigEndian.Uint32(a.val)
			} else {
				g.MPPETypes = binary.BigEndian.Uint32(a.val)
			}
		case msPrimaryDNSServer, msSecondaryDNSServer, msPrimaryNBNSServer, msSecondaryNBNSServer:
			if len(a.val) != 4 {
				return fail("MS DNS/NBNS server of %d bytes", len(a.val))
			}
			addr := netip.AddrFrom4([4]byte(a.val))
			switch a.typ {
			case msPrimaryDNSServer:
				g.DNS[0] = addr
			case msSecondaryDNSServer:
				g.DNS[1] = addr
			case msPrimaryNBNSServer:
				g.NBNS[0] = addr
			default:
				g.NBNS[1] = addr
			}
		}
	}
	if req.Method == ppp.AuthMSCHAPv2 && !haveSuccess {
		// Without it the peer cannot check us, and Windows hangs up.
		return fail("no MS-CHAP2-Success")
	}
	switch {
	case haveSend && haveRecv:
		res.HasKeys = req.Method == ppp.AuthMSCHAPv1 || req.Method == ppp.AuthMSCHAPv2
	case haveSend || haveRecv:
		return fail("only one of MS-MPPE-Send-Key and MS-MPPE-Recv-Key")
	case haveV1Keys:
		res.HasKeys = true
	}
	if !res.HasKeys {
		res.SendKey, res.RecvKey = [16]byte{}, [16]byte{}
	}
	return res, g
}

// parseFramedRoute reads the subnet of a Framed-Route (RFC 2865 section
// 5.22): "a.b.c.d[/n] [gateway] [metric...]"; the gateway and metrics do
// not apply to a point-to-point session, whose peer is the gateway. A
// prefix without a length is a host.
func parseFramedRoute(s string) (netip.Prefix, error) {
	f := strings.Fields(s)
	if len(f) == 0 {
		return netip.Prefix{}, errors.New("empty Framed-Route")
	}
	var p netip.Prefix
	var err error
	if strings.Contains(f[0], "/") {
		p, err = netip.ParsePrefix(f[0])
	} else {
		var a netip.Addr
		a, err = netip.ParseAddr(f[0])
		p = netip.PrefixFrom(a, 32)
	}
	if err != nil || !p.Addr().Is4() || p.Bits() < 8 {
		return netip.Prefix{}, fmt.Errorf("Framed-Route %q is not an IPv4 subnet of /8 or longer", ppp.Printable([]byte(s), 64))
	}
	return p.Masked(), nil
}
