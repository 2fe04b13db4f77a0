// Package mschap implements the computations of Microsoft's PPP CHAP
// variants: MS-CHAPv1 (RFC 2433) and MS-CHAPv2 (RFC 2759), and the text of
// their Success and Failure messages.
//
// Everything here is a pure function without I/O. The functions take the NT
// password hash rather than the password, so that an authenticator can keep
// NT hashes instead of clear-text secrets; NTPasswordHash turns a password
// into one.
//
// MS-CHAP is built on MD4 and single DES and offers little protection against
// an attacker who records an exchange. It is implemented because PPTP peers
// require it, not because it is sound.
package mschap

import (
	"crypto/des"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/hex"
	"strings"
	"unicode/utf16"

	"golang.org/x/crypto/md4"
)

// NTPasswordHash returns the MD4 hash of password encoded as UTF-16LE
// (RFC 2759 section 8.3, RFC 2433 appendix A.8).
//
// The password is decoded as UTF-8, as Windows would see it. pppd instead
// widens each byte of its secret to 16 bits, so the two agree only for ASCII
// passwords. RFC 2759 limits passwords to 256 characters; longer ones are
// hashed whole rather than truncated, which matches no peer but loses
// nothing either.
func NTPasswordHash(password string) [16]byte {
	u := utf16.Encode([]rune(password))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		b[2*i] = byte(c)
		b[2*i+1] = byte(c >> 8)
	}
	return md4Sum(b)
}

// HashNTPasswordHash returns MD4(passwordHash) (RFC 2759 section 8.4), the
// PasswordHashHash from which MS-CHAPv2 authenticator responses and MPPE
// keys are derived.
func HashNTPasswordHash(passwordHash [16]byte) [16]byte {
	return md4Sum(passwordHash[:])
}

func md4Sum(b []byte) [16]byte {
	h := md4.New()
	h.Write(b) // a hash.Hash never returns an error
	var out [16]byte
	h.Sum(out[:0])
	return out
}

// LMPasswordHash returns the LAN Manager hash of password (RFC 2433 appendix
// A.2). It exists for MS-CHAPv1 LM responses and the LM-derived 40- and 56-bit
// MPPE keys of RFC 3079 section 2; nothing else should use it.
//
// The password is upper-cased in ASCII only and truncated to 14 bytes; the RFC
// speaks of the OEM code page, which is unknowable here, so passwords outside
// ASCII will not match a Windows peer.
func LMPasswordHash(password string) [16]byte {
	var ucase [14]byte
	for i := 0; i < len(password) && i < len(ucase); i++ {
		c := password[i]
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		ucase[i] = c
	}
	stdText := [8]byte{'K', 'G', 'S', '!', '@', '#', '$', '%'}
	var h [16]byte
	desEncrypt(h[0:8], stdText[:], ucase[0:7])
	desEncrypt(h[8:16], stdText[:], ucase[7:14])
	return h
}

// ChallengeResponse encrypts an 8-byte challenge three times with DES, keyed
// by consecutive 7-byte pieces of passwordHash padded with zeros to 21 bytes
// (RFC 2759 section 8.5, RFC 2433 appendix A.5). It is the core of both
// MS-CHAP versions and works on either the NT or the LM hash.
func ChallengeResponse(challenge [8]byte, passwordHash [16]byte) [24]byte {
	var z [21]byte
	copy(z[:], passwordHash[:])
	var resp [24]byte
	desEncrypt(resp[0:8], challenge[:], z[0:7])
	desEncrypt(resp[8:16], challenge[:], z[7:14])
	desEncrypt(resp[16:24], challenge[:], z[14:21])
	return resp
}

// desEncrypt encrypts the 8-byte clear with the 56-bit key7 into dst
// (RFC 2759 section 8.6).
func desEncrypt(dst, clear, key7 []byte) {
	k := desKey(key7)
	// NewCipher fails only for a key that is not 8 bytes long, which k cannot be.
	c, _ := des.NewCipher(k[:])
	c.Encrypt(dst, clear)
}

// desKey spreads the 56 bits of key7 over 8 bytes, 7 bits to a byte, and sets
// the low bit of each byte for odd parity. crypto/des ignores parity, but the
// RFCs' examples print the parity-corrected keys, and so the tests check them.
func desKey(key7 []byte) [8]byte {
	var k [8]byte
	k[0] = key7[0]
	k[1] = key7[0]<<7 | key7[1]>>1
	k[2] = key7[1]<<6 | key7[2]>>2
	k[3] = key7[2]<<5 | key7[3]>>3
	k[4] = key7[3]<<4 | key7[4]>>4
	k[5] = key7[4]<<3 | key7[5]>>5
	k[6] = key7[5]<<2 | key7[6]>>6
	k[7] = key7[6] << 1
	for i, b := range k {
		b &^= 1
		// Fold the seven key bits into the low bit to get their parity.
		p := b ^ b>>4
		p ^= p >> 2
		p ^= p >> 1
		k[i] = b | ^p&1
	}
	return k
}

// NTChallengeResponse returns the 24-byte NT response of MS-CHAPv1 to the
// authenticator's challenge (RFC 2433 appendix A.5).
func NTChallengeResponse(challenge [8]byte, passwordHash [16]byte) [24]byte {
	return ChallengeResponse(challenge, passwordHash)
}

// ChallengeHash returns the 8-byte challenge that MS-CHAPv2 feeds to
// ChallengeResponse: the start of SHA1(peerChallenge, authChallenge, user)
// (RFC 2759 section 8.2). As the RFC requires, a domain prefix ending in a
// backslash ("DOMAIN\user") is not part of the hashed name; like pppd, the
// prefix runs to the last backslash.
func ChallengeHash(peerChallenge, authChallenge [16]byte, username string) [8]byte {
	h := sha1.New()
	h.Write(peerChallenge[:])
	h.Write(authChallenge[:])
	h.Write([]byte(StripDomain(username)))
	var sum [sha1.Size]byte
	h.Sum(sum[:0])
	return [8]byte(sum[:8])
}

// StripDomain returns username without any "DOMAIN\" prefix, the form in
// which MS-CHAPv2 hashes it.
func StripDomain(username string) string {
	if i := strings.LastIndexByte(username, '\\'); i >= 0 {
		return username[i+1:]
	}
	return username
}

// GenerateNTResponse returns the 24-byte MS-CHAPv2 NT-Response
// (RFC 2759 section 8.1).
func GenerateNTResponse(authChallenge, peerChallenge [16]byte, username string, passwordHash [16]byte) [24]byte {
	return ChallengeResponse(ChallengeHash(peerChallenge, authChallenge, username), passwordHash)
}

// Magic constants of RFC 2759 section 8.7.
var (
	authMagic1 = []byte("Magic server to client signing constant")
	authMagic2 = []byte("Pad to make it do more than one iteration")
)

// authenticatorResponse computes the 20 bytes behind the "S=" string of
// RFC 2759 section 8.7.
func authenticatorResponse(passwordHash [16]byte, ntResponse [24]byte, peerChallenge, authChallenge [16]byte, username string) [sha1.Size]byte {
	hh := HashNTPasswordHash(passwordHash)

	h := sha1.New()
	h.Write(hh[:])
	h.Write(ntResponse[:])
	h.Write(authMagic1)
	var digest [sha1.Size]byte
	h.Sum(digest[:0])

	challenge := ChallengeHash(peerChallenge, authChallenge, username)
	h.Reset()
	h.Write(digest[:])
	h.Write(challenge[:])
	h.Write(authMagic2)
	h.Sum(digest[:0])
	return digest
}

// AuthenticatorResponse returns the 42-character string "S=" followed by 40
// upper-case hex digits with which an MS-CHAPv2 authenticator proves that it
// too knows the password (RFC 2759 section 8.7). It is the start of the
// Success message.
func AuthenticatorResponse(passwordHash [16]byte, ntResponse [24]byte, peerChallenge, authChallenge [16]byte, username string) string {
	d := authenticatorResponse(passwordHash, ntResponse, peerChallenge, authChallenge, username)
	return "S=" + strings.ToUpper(hex.EncodeToString(d[:]))
}

// CheckAuthenticatorResponse reports whether the Success message text msg
// (as accepted by ParseSuccess) carries the authenticator response expected
// for these credentials (RFC 2759 section 8.8). The comparison takes constant
// time.
func CheckAuthenticatorResponse(passwordHash [16]byte, ntResponse [24]byte, peerChallenge, authChallenge [16]byte, username string, msg string) bool {
	got, _, err := ParseSuccess(msg)
	if err != nil {
		return false
	}
	want := authenticatorResponse(passwordHash, ntResponse, peerChallenge, authChallenge, username)
	return subtle.ConstantTimeCompare(got[:], want[:]) == 1
}
