package mppe

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/gopptp/gopptp/mschap"
)

// mustHex decodes hex written with or without spaces.
func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

func mustHex16(t testing.TB, s string) [16]byte {
	t.Helper()
	b := mustHex(t, s)
	if len(b) != 16 {
		t.Fatalf("%q is %d bytes, want 16", s, len(b))
	}
	return [16]byte(b)
}

// sessionKey returns the current session key of s.
func (s *session) sessionKey() []byte { return s.key[:s.n] }

func TestMagicConstants(t *testing.T) {
	// RFC 3079 section 3.4 gives the constants as 27, 84 and 84 bytes.
	if len(magic1) != 27 || len(magic2) != 84 || len(magic3) != 84 {
		t.Fatalf("magic lengths %d %d %d, want 27 84 84", len(magic1), len(magic2), len(magic3))
	}
}

// rfc3079v2 are the values shared by the samples of RFC 3079 section 3.5.
func rfc3079v2(t *testing.T) (ntResponse [24]byte, hashHash, master [16]byte) {
	ph := mschap.NTPasswordHash("clientPass")
	hashHash = mschap.HashNTPasswordHash(ph)
	ntResponse = mschap.GenerateNTResponse(
		mustHex16(t, "5B 5D 7C 7D 7B 3F 2F 3E 3C 2C 60 21 32 26 26 28"),
		mustHex16(t, "21 40 23 24 25 5E 26 2A 28 29 5F 2B 3A 33 7C 7E"),
		"User", ph)
	if want := mustHex(t, "82 30 9E CD 8D 70 8B 5E A0 8F AA 39 81 CD 83 54 42 33 11 4A 3D 85 D6 DF"); !bytes.Equal(ntResponse[:], want) {
		t.Fatalf("NT-Response %x, want %x", ntResponse, want)
	}
	if want := mustHex16(t, "41 C0 0C 58 4B D2 D9 1C 40 17 A2 A1 2F A5 9F 3F"); hashHash != want {
		t.Fatalf("PasswordHashHash %x, want %x", hashHash, want)
	}
	return ntResponse, hashHash, MasterKey(hashHash, ntResponse)
}

// TestRFC3079MSCHAPv2Samples checks every value of RFC 3079 section 3.5.
// The RFC's "SendStartKey" is the server's send key (Magic3), equal to the
// client's receive key; see shared/testvectors/README.md section 5.
func TestRFC3079MSCHAPv2Samples(t *testing.T) {
	_, _, master := rfc3079v2(t)
	if want := mustHex16(t, "FD EC E3 71 7A 8C 83 8C B3 88 E5 27 AE 3C DD 31"); master != want {
		t.Fatalf("MasterKey = %x, want %x", master, want)
	}
	serverSend, serverRecv := StartKeysV2(master, true)
	clientSend, clientRecv := StartKeysV2(master, false)
	if want := mustHex16(t, "8B 7C DC 14 9B 99 3A 1B A1 18 CB 15 3F 56 DC CB"); serverSend != want {
		t.Fatalf("server send start key = %x, want %x", serverSend, want)
	}
	if clientRecv != serverSend || clientSend != serverRecv {
		t.Fatal("client and server start keys do not mirror each other")
	}
	if serverSend == serverRecv {
		t.Fatal("send and receive start keys are equal")
	}

	for _, tc := range []struct {
		bits             int
		sessionKey, text string
	}{
		{40, "D1 26 9E C4 9F A6 2E 3E", "92 91 37 91 7E 58 03 D6 68 D7 58 98"},
		// The RFC prints the last octet as 58; it is B8, as two independent
		// RC4 implementations agree (testvectors README, discrepancy 1).
		{56, "D1 5C 00 C4 9F A6 2E 3E", "3F 10 68 33 FA 44 8D A8 42 BC 57 B8"},
		{128, "40 5C B2 24 7A 79 56 E6 E2 11 00 7A E2 7B 22 D4", "81 84 83 17 DF 68 84 62 72 FB 5A BE"},
	} {
		// A stateful Encrypter sends its first packet (count 0) with the
		// initial session key, so it must reproduce the RFC's sample message.
		e, err := NewEncrypter(serverSend, Options{KeyBits: tc.bits})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := e.s.sessionKey(), mustHex(t, tc.sessionKey); !bytes.Equal(got, want) {
			t.Errorf("%d-bit initial send session key = %x, want %x", tc.bits, got, want)
		}
		pkt := append([]byte{0, 0}, "test message"...)
		if err := e.Seal(pkt); err != nil {
			t.Fatal(err)
		}
		if pkt[0] != 0x10 || pkt[1] != 0 {
			t.Errorf("%d-bit first stateful header % x, want 10 00", tc.bits, pkt[:2])
		}
		if want := mustHex(t, tc.text); !bytes.Equal(pkt[2:], want) {
			t.Errorf("%d-bit rc4(SendSessionKey, \"test message\") = % X, want % X", tc.bits, pkt[2:], want)
		}
	}
}

// TestDerivedPerPacketKeys checks the stateless per-packet keys that
// shared/testvectors/README.md derives from the RFC 3079 send keys the way
// the Linux kernel does.
func TestDerivedPerPacketKeys(t *testing.T) {
	_, _, master := rfc3079v2(t)
	start, _ := StartKeysV2(master, true)
	for _, tc := range []struct {
		bits int
		keys []string // for ccount 0, 1, 2...
	}{
		{128, []string{
			"72 6F 10 50 0E 2B 54 13 5B 1B 74 D7 68 2F 04 71",
			"28 05 BC 78 69 BE C8 25 57 3A 78 03 E9 5A 3A CD",
			"58 12 8C 36 CA BD 54 96 81 39 FD 94 B5 88 3D 4A",
		}},
		{40, []string{
			"D1 26 9E CE 4D 98 D1 81",
			"D1 26 9E DE EF BD 8A FF",
		}},
	} {
		e, err := NewEncrypter(start, Options{KeyBits: tc.bits, Stateless: true})
		if err != nil {
			t.Fatal(err)
		}
		d, err := NewDecrypter(start, Options{KeyBits: tc.bits, Stateless: true})
		if err != nil {
			t.Fatal(err)
		}
		for n, k := range tc.keys {
			pkt := []byte{0, 0, 0x00, 0x21, 0x45}
			if err := e.Seal(pkt); err != nil {
				t.Fatal(err)
			}
			if got, want := e.s.sessionKey(), mustHex(t, k); !bytes.Equal(got, want) {
				t.Errorf("%d-bit key for ccount %d = % X, want % X", tc.bits, n, got, want)
			}
			if _, err := d.Open(pkt[2:], pkt); err != nil {
				t.Fatal(err)
			}
			if got, want := d.s.sessionKey(), mustHex(t, k); !bytes.Equal(got, want) {
				t.Errorf("%d-bit receive key for ccount %d = % X, want % X", tc.bits, n, got, want)
			}
		}
	}
}

// TestRFC3079MSCHAPv1Samples checks RFC 3079 section 2.5.
func TestRFC3079MSCHAPv1Samples(t *testing.T) {
	lm := mschap.LMPasswordHash("clientPass")
	if want := mustHex16(t, "76 a1 52 93 60 96 d7 83 0e 23 90 22 74 04 af d2"); lm != want {
		t.Fatalf("LmPasswordHash = %x, want %x", lm, want)
	}
	for _, tc := range []struct {
		bits int
		want string
	}{
		{40, "d1 26 9e 53 8c ec 4a 08"}, // 2.5.1
		{56, "d1 08 01 53 8c ec 4a 08"}, // 2.5.2
	} {
		d, err := NewDecrypter(StartKeyV1LM(lm), Options{KeyBits: tc.bits})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := d.s.sessionKey(), mustHex(t, tc.want); !bytes.Equal(got, want) {
			t.Errorf("%d-bit LM session key = %x, want %x", tc.bits, got, want)
		}
	}

	// 2.5.3. The RFC prints InitialSessionKey in Step 3 with "ac ca" where
	// Step 4's copy of it has "ac c1"; Step 5 follows from "ac c1", so Step 3
	// has a typo (testvectors README, discrepancy 2).
	hh := mschap.HashNTPasswordHash(mschap.NTPasswordHash("clientPass"))
	start := StartKeyV1(hh, [8]byte(mustHex(t, "10 2d b5 df 08 5d 30 41")))
	if want := mustHex16(t, "a8 94 78 50 cf c0 ac c1 d1 78 9f b6 2d dc dd b0"); start != want {
		t.Fatalf("GetStartKey = %x, want %x", start, want)
	}
	d, err := NewDecrypter(start, Options{KeyBits: 128})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := d.s.sessionKey(), mustHex(t, "59 d1 59 bc 09 f7 6f 1d a2 a8 6a 28 ff ec 0b 1e"); !bytes.Equal(got, want) {
		t.Errorf("128-bit MS-CHAPv1 session key = %x, want %x", got, want)
	}
}

// TestCaptureKeysREADME derives the keys of pppd-mschapv2-mppe128.pcap from
// the password and compares them with testdata/captures/README.md, which
// took them from pppd's debug log.
func TestCaptureKeysREADME(t *testing.T) {
	auth := mustHex16(t, "e828c3d700d788652ffac77d9bdba79a")
	peer := mustHex16(t, "e8428bb3fc424e17e0d4a0ec3b1dbdc8")
	ph := mschap.NTPasswordHash("pptp-secret-42")
	nt := mschap.GenerateNTResponse(auth, peer, "pptpuser", ph)
	master := MasterKey(mschap.HashNTPasswordHash(ph), nt)
	if want := mustHex16(t, "76765a676f83df78d0d0e7431946c615"); master != want {
		t.Fatalf("MasterKey = %x, want %x", master, want)
	}
	send, recv := StartKeysV2(master, false)
	if want := mustHex16(t, "2a286a5920c168bbfcba7e9b06fb9217"); send != want {
		t.Errorf("client send key = %x, want %x", send, want)
	}
	if want := mustHex16(t, "bd124a42a1ac04afd550e369261ee3c3"); recv != want {
		t.Errorf("client receive key = %x, want %x", recv, want)
	}
	ssend, srecv := StartKeysV2(master, true)
	if ssend != recv || srecv != send {
		t.Error("server keys do not mirror the client's")
	}
}

func TestOptions(t *testing.T) {
	for _, bits := range []int{0, 39, 41, 64, 127, 256, -128} {
		if _, err := NewEncrypter([16]byte{}, Options{KeyBits: bits}); err == nil {
			t.Errorf("NewEncrypter accepts %d-bit keys", bits)
		}
		if _, err := NewDecrypter([16]byte{}, Options{KeyBits: bits}); err == nil {
			t.Errorf("NewDecrypter accepts %d-bit keys", bits)
		}
	}
}
