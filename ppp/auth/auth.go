// Package auth implements the PPP authentication protocols of a PPTP link,
// for both ends: PAP (RFC 1334), CHAP with MD5 (RFC 1994), MS-CHAP (RFC
// 2433) and MS-CHAP-v2 (RFC 2759).
//
// The authenticator (Server) owns the packet exchange and hands the peer's
// credentials to a Verifier, which may be slow (a RADIUS server); the
// session runs Verify on another goroutine and feeds the Result back with
// Server.Complete. The peer side (Client) computes its answers itself and,
// for MS-CHAP-v2, checks the authenticator response so that a server that
// does not know the password is caught.
package auth

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	"github.com/gopptp/gopptp/mppe"
	"github.com/gopptp/gopptp/mschap"
	"github.com/gopptp/gopptp/ppp"
)

// Codes of PAP (RFC 1334 section 2.2) and CHAP (RFC 1994 section 4).
const (
	PAPRequest  ppp.Code = 1
	PAPAck      ppp.Code = 2
	PAPNak      ppp.Code = 3
	CHAPChallen ppp.Code = 1
	CHAPRespons ppp.Code = 2
	CHAPSuccess ppp.Code = 3
	CHAPFailure ppp.Code = 4
)

// Request carries what the peer sent, for a Verifier to judge.
type Request struct {
	Method ppp.AuthMethod
	// User is the name the peer gave (PAP Peer-ID or CHAP Name).
	User string
	// Password is the PAP password.
	Password []byte
	// ID is the CHAP identifier (part of the CHAP-MD5 hash).
	ID uint8
	// Challenge is our CHAP challenge value (16 octets, 8 for MS-CHAP).
	Challenge []byte
	// Response is the peer's CHAP response value (16 octets for MD5, 49
	// for MS-CHAP and MS-CHAP-v2).
	Response []byte
	// Peer is the peer's underlay address (RADIUS Calling-Station-Id,
	// logs).
	Peer netip.Addr
}

// Result is a Verifier's verdict.
type Result struct {
	OK bool
	// Reason says why a login failed, for the log (never sent).
	Reason string
	// AuthenticatorResponse is the MS-CHAP-v2 "S=..." string proving the
	// server knows the password.
	AuthenticatorResponse string
	// SendKey and RecvKey are the MPPE start keys from the server's side,
	// set when HasKeys (MS-CHAP and MS-CHAP-v2).
	SendKey, RecvKey [16]byte
	HasKeys          bool
	// Addr, when valid, is the tunnel address this user must get.
	Addr netip.Addr
	// Allowed, when set, says which tunnel addresses the user may have
	// (the address column of a secrets file); nil allows any.
	Allowed func(netip.Addr) bool
}

// Verifier judges a login. Implementations: the secrets-file verifier in
// this package and RADIUS.
type Verifier interface {
	Verify(ctx context.Context, req *Request) (*Result, error)
}

// ErrUnknownUser is returned by a SecretFunc that has no secret for a user.
var ErrUnknownUser = errors.New("no secret for user")

// Secret is what a SecretFunc knows of a user.
type Secret struct {
	Password string
	Addr     netip.Addr            // address to assign, if the secrets file names one
	Allowed  func(netip.Addr) bool // addresses the user may have; nil for any
}

// SecretFunc finds the clear-text secret of user for the given method
// (pppd reads PAP secrets from pap-secrets and CHAP ones from chap-secrets).
type SecretFunc func(method ppp.AuthMethod, user string) (Secret, error)

// PasswordVerifier checks logins against clear-text secrets, the way pppd
// does with its secrets files.
type PasswordVerifier struct {
	Lookup SecretFunc
}

// Verify implements Verifier.
func (v PasswordVerifier) Verify(_ context.Context, req *Request) (*Result, error) {
	sec, err := v.Lookup(req.Method, req.User)
	if errors.Is(err, ErrUnknownUser) {
		return &Result{Reason: "unknown user"}, nil
	}
	if err != nil {
		return nil, err
	}
	res := Check(req, sec.Password, sec.Addr)
	if res.OK {
		res.Allowed = sec.Allowed
	}
	return res, nil
}

// Check verifies req against a clear-text password and computes what a
// successful MS-CHAP login yields (authenticator response, MPPE keys).
func Check(req *Request, password string, addr netip.Addr) *Result {
	bad := &Result{Reason: "wrong password"}
	ok := &Result{OK: true, Addr: addr}
	switch req.Method {
	case ppp.AuthPAP:
		if !constantTimeEqual(req.Password, []byte(password)) {
			return bad
		}
		return ok
	case ppp.AuthCHAPMD5:
		want := chapMD5(req.ID, []byte(password), req.Challenge)
		if !constantTimeEqual(req.Response, want[:]) {
			return bad
		}
		return ok
	case ppp.AuthMSCHAPv1:
		if len(req.Response) != msResponseLen || len(req.Challenge) != 8 {
			return &Result{Reason: "malformed MS-CHAP response"}
		}
		if req.Response[48] != 1 {
			return &Result{Reason: "MS-CHAP LAN Manager response not supported"}
		}
		h := mschap.NTPasswordHash(password)
		want := mschap.NTChallengeResponse([8]byte(req.Challenge), h)
		if !constantTimeEqual(req.Response[24:48], want[:]) {
			return bad
		}
		key := mppe.StartKeyV1(mschap.HashNTPasswordHash(h), [8]byte(req.Challenge))
		ok.SendKey, ok.RecvKey, ok.HasKeys = key, key, true
		return ok
	case ppp.AuthMSCHAPv2:
		if len(req.Response) != msResponseLen || len(req.Challenge) != 16 {
			return &Result{Reason: "malformed MS-CHAP-v2 response"}
		}
		h := mschap.NTPasswordHash(password)
		peerChal := [16]byte(req.Response[0:16])
		nt := [24]byte(req.Response[24:48])
		want := mschap.GenerateNTResponse([16]byte(req.Challenge), peerChal, req.User, h)
		if !constantTimeEqual(nt[:], want[:]) {
			return bad
		}
		ok.AuthenticatorResponse = mschap.AuthenticatorResponse(h, nt, peerChal, [16]byte(req.Challenge), req.User)
		master := mppe.MasterKey(mschap.HashNTPasswordHash(h), nt)
		ok.SendKey, ok.RecvKey = mppe.StartKeysV2(master, true)
		ok.HasKeys = true
		return ok
	}
	return &Result{Reason: fmt.Sprintf("method %v not supported", req.Method)}
}

// msResponseLen is the length of an MS-CHAP and MS-CHAP-v2 response value.
const msResponseLen = 49
