package auth

import (
	"bytes"
	"crypto/md5"
	"net/netip"
	"testing"

	"github.com/gopptp/gopptp/mschap"
	"github.com/gopptp/gopptp/ppp"
)

// fuzzSecret is the password the fuzzed authenticator checks against.
const fuzzSecret = "secret"

// rightCredentials is an oracle for Check, written from the RFCs apart
// from the code under test: whether req carries the right answer for
// fuzzSecret.
func rightCredentials(req *Request) bool {
	switch req.Method {
	case ppp.AuthPAP:
		return string(req.Password) == fuzzSecret
	case ppp.AuthCHAPMD5:
		h := md5.Sum(append(append([]byte{req.ID}, fuzzSecret...), req.Challenge...))
		return bytes.Equal(req.Response, h[:])
	case ppp.AuthMSCHAPv1:
		if len(req.Response) != 49 || len(req.Challenge) != 8 || req.Response[48] != 1 {
			return false
		}
		nt := mschap.NTChallengeResponse([8]byte(req.Challenge), mschap.NTPasswordHash(fuzzSecret))
		return bytes.Equal(req.Response[24:48], nt[:])
	case ppp.AuthMSCHAPv2:
		if len(req.Response) != 49 || len(req.Challenge) != 16 {
			return false
		}
		nt := mschap.GenerateNTResponse([16]byte(req.Challenge), [16]byte(req.Response[:16]), req.User, mschap.NTPasswordHash(fuzzSecret))
		return bytes.Equal(req.Response[24:48], nt[:])
	}
	return false
}

// FuzzAuth feeds arbitrary PAP/CHAP packets to the authenticator and the
// peer side of every method (which: PAP, CHAP-MD5, MS-CHAP, MS-CHAP-v2).
//
// Packet identifiers in the input are relative to the one each side
// expects (the server's current challenge, the client's PAP request or the
// challenge it answered), so that the fuzzer reaches past the identifier
// checks although both sides pick their first one at random.
//
// Checked: what the server hands its verifier is the challenge it sent
// with that challenge's identifier and a response of the right length for
// the method; it reports success exactly when the verifier said so, and
// the verifier says so only for the right password (an oracle apart from
// Check); it answers a response with the identifier of that response; the
// client's packets are well-formed, and an MS-CHAP-v2 client never accepts
// a server that cannot prove it knows the password, which random input
// cannot. Seeds: testdata/fuzz/FuzzAuth, the PAP and CHAP conversations of
// the captures and our own engines (go run ./internal/fuzzseed), with
// identifiers made relative.
func FuzzAuth(f *testing.F) {
	f.Add([]byte{2, 0, 0, 21, 16, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, uint8(1))
	f.Add([]byte{1, 0, 0, 14, 3, 'b', 'o', 'b', 4, 'p', 'a', 's', 's', 0}, uint8(0))
	f.Add([]byte{1, 0, 0, 16, 5, 'a', 'l', 'i', 'c', 'e', 6, 's', 'e', 'c', 'r', 'e', 't'}, uint8(0))
	f.Add([]byte{1, 7, 0, 26, 16, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 's', 'r', 'v', 'x', 'y'}, uint8(3))
	f.Add([]byte{4, 0, 0, 24, 'E', '=', '6', '9', '1', ' ', 'R', '=', '1', ' ', 'C', '=', '0', '0', ' ', 'V', '=', '3'}, uint8(3))
	f.Fuzz(func(t *testing.T, data []byte, which uint8) {
		methods := []ppp.AuthMethod{ppp.AuthPAP, ppp.AuthCHAPMD5, ppp.AuthMSCHAPv1, ppp.AuthMSCHAPv2}
		m := methods[int(which)%len(methods)]
		var (
			srv       *Server
			verdict   *Result // the verifier's last answer
			chal      []byte  // the last challenge the server sent
			chalID    uint8   // and its identifier
			lastInput ppp.Packet
		)
		srvRec, cliRec := &recorder{}, &recorder{}
		srv = NewServer(m, "pptpd", srvRec.send, &fakeTimer{}, ServerHooks{
			Verify: func(r *Request) {
				if r.Method != m {
					t.Fatalf("verifying %v in a %v server", r.Method, m)
				}
				if r.ID != lastInput.ID {
					t.Fatalf("verifying id %d from a packet with id %d", r.ID, lastInput.ID)
				}
				if m != ppp.AuthPAP {
					want := 16
					if m != ppp.AuthCHAPMD5 {
						want = 49
					}
					if !bytes.Equal(r.Challenge, chal) || r.ID != chalID || len(r.Response) != want {
						t.Fatalf("verifying %+v; challenge sent %x id %d", r, chal, chalID)
					}
				}
				verdict = Check(r, fuzzSecret, netip.Addr{})
				if verdict.OK != rightCredentials(r) {
					t.Fatalf("Check says %v for %+v", verdict.OK, r)
				}
				srv.Complete(verdict, nil)
			},
			Done: func(r *Result) {
				if r.OK && (verdict == nil || !verdict.OK) {
					t.Fatalf("authenticated without the verifier's consent")
				}
			},
		})
		cli := NewClient(m, "alice", fuzzSecret, cliRec.send, &fakeTimer{}, func(r ClientResult) {
			if r.OK && m == ppp.AuthMSCHAPv2 {
				t.Fatalf("the client accepted a server that does not know the password")
			}
		})
		srv.Start()
		cli.Start()
		for len(data) >= 4 {
			p, err := ppp.ParsePacket(data)
			if err != nil {
				return
			}
			data = data[4+len(p.Data):]
			checkServerSent(t, m, srvRec.take(), lastInput, &chal, &chalID)
			checkClientSent(t, m, cliRec.take())

			sp := p
			sp.ID += srv.id
			lastInput = sp
			srv.Input(sp)
			checkServerSent(t, m, srvRec.take(), lastInput, &chal, &chalID)

			cp := p
			if m == ppp.AuthPAP {
				cp.ID += cli.id
			} else if p.Code != CHAPChallen {
				cp.ID += cli.lastChalID
			}
			cli.Input(cp)
			checkClientSent(t, m, cliRec.take())

			lastInput = ppp.Packet{}
			srv.Timeout()
			cli.Timeout()
		}
	})
}

// checkServerSent checks the authenticator's packets, sent in response to
// in (zero when sent on a timer), and records its challenges.
func checkServerSent(t *testing.T, m ppp.AuthMethod, sent []ppp.Packet, in ppp.Packet, chal *[]byte, chalID *uint8) {
	t.Helper()
	for _, s := range sent {
		if m == ppp.AuthPAP {
			if s.Code != PAPAck && s.Code != PAPNak {
				t.Fatalf("PAP server sent code %d", s.Code)
			}
			if in.Code != PAPRequest || s.ID != in.ID || len(s.Data) < 1 || int(s.Data[0]) != len(s.Data)-1 {
				t.Fatalf("PAP server sent %v id %d %x in answer to %+v", s.Code, s.ID, s.Data, in)
			}
			continue
		}
		switch s.Code {
		case CHAPChallen:
			want := 16
			if m == ppp.AuthMSCHAPv1 {
				want = 8
			}
			if len(s.Data) < 1+want || int(s.Data[0]) != want || string(s.Data[1+want:]) != "pptpd" {
				t.Fatalf("challenge %x", s.Data)
			}
			*chal = append((*chal)[:0], s.Data[1:1+want]...)
			*chalID = s.ID
		case CHAPSuccess, CHAPFailure:
			if in.Code != CHAPRespons || s.ID != in.ID {
				t.Fatalf("%v id %d in answer to %+v", ppp.CodeName(ppp.ProtoCHAP, s.Code), s.ID, in)
			}
			if m == ppp.AuthMSCHAPv2 && s.Code == CHAPSuccess {
				if _, _, err := mschap.ParseSuccess(string(s.Data)); err != nil {
					t.Fatalf("Success %q: %v", s.Data, err)
				}
			}
			if (m == ppp.AuthMSCHAPv1 || m == ppp.AuthMSCHAPv2) && s.Code == CHAPFailure {
				f, err := mschap.ParseFailure(string(s.Data))
				if err != nil {
					t.Fatalf("Failure %q: %v", s.Data, err)
				}
				if f.Retry {
					// The next challenge travels in the Failure, and the
					// retry comes with the next identifier.
					*chal = append((*chal)[:0], f.Challenge...)
					*chalID = s.ID + 1
				}
			}
		default:
			t.Fatalf("CHAP server sent code %d", s.Code)
		}
	}
}

// checkClientSent checks the peer side's packets.
func checkClientSent(t *testing.T, m ppp.AuthMethod, sent []ppp.Packet) {
	t.Helper()
	for _, s := range sent {
		if m == ppp.AuthPAP {
			if s.Code != PAPRequest || !bytes.Equal(s.Data, []byte("\x05alice\x06secret")) {
				t.Fatalf("PAP client sent %v %x", s.Code, s.Data)
			}
			continue
		}
		want := 16
		if m != ppp.AuthCHAPMD5 {
			want = 49
		}
		if s.Code != CHAPRespons || len(s.Data) != 1+want+len("alice") || int(s.Data[0]) != want || string(s.Data[1+want:]) != "alice" {
			t.Fatalf("CHAP client sent %v %x", s.Code, s.Data)
		}
	}
}
