package mppe

import (
	"crypto/sha1"
)

// The magic constants of RFC 3079 section 3.4, as the ASCII text their bytes
// spell.
const (
	magic1 = "This is the MPPE Master Key"
	magic2 = "On the client side, this is the send key; on the server side, it is the receive key."
	magic3 = "On the client side, this is the receive key; on the server side, it is the send key."
)

// The SHA pads of RFC 3078 section 7.3 and RFC 3079: 40 bytes of 0x00
// (SHApad1) and 40 bytes of 0xF2 (SHApad2).
const (
	padLen  = 40
	pad2Val = 0xf2
)

// MasterKey derives the MS-CHAPv2 MPPE master key from the PasswordHashHash
// (mschap.HashNTPasswordHash of the NT password hash) and the peer's 24-byte
// NT-Response: GetMasterKey of RFC 3079 section 3.4. Both ends compute the
// same value.
func MasterKey(passwordHashHash [16]byte, ntResponse [24]byte) [16]byte {
	var in [16 + 24 + len(magic1)]byte
	copy(in[:], passwordHashHash[:])
	copy(in[16:], ntResponse[:])
	copy(in[40:], magic1)
	d := sha1.Sum(in[:])
	return [16]byte(d[:16])
}

// StartKeysV2 derives the MS-CHAPv2 MPPE start keys (the "master send key"
// and "master receive key" of RFC 3079) of one end from the master key:
// GetAsymmetricStartKey of RFC 3079 section 3.4. server selects the
// authenticator's view: its send key is made with Magic3 and its receive key
// with Magic2, while the client's are the other way round, so that each
// end's send key is the other's receive key.
//
// The keys are 16 bytes; 40- and 56-bit MPPE use their first 8, which is what
// GetAsymmetricStartKey produces for a SessionKeyLength of 8.
//
// The sample keys of RFC 3079 section 3.5 are the server's send keys.
func StartKeysV2(masterKey [16]byte, server bool) (send, recv [16]byte) {
	a := asymmetricStartKey(masterKey, magic2)
	b := asymmetricStartKey(masterKey, magic3)
	if server {
		return b, a
	}
	return a, b
}

func asymmetricStartKey(masterKey [16]byte, magic string) [16]byte {
	var in [16 + padLen + len(magic2) + padLen]byte
	copy(in[:], masterKey[:])
	// in[16:56] stays zero: SHApad1.
	copy(in[16+padLen:], magic)
	for i := 16 + padLen + len(magic); i < len(in); i++ {
		in[i] = pad2Val
	}
	d := sha1.Sum(in[:])
	return [16]byte(d[:16])
}

// StartKeyV1 derives the MPPE start key of an MS-CHAPv1 session from the
// PasswordHashHash and the authenticator's 8-byte challenge: GetStartKey of
// RFC 3079 section 2.4, SHA1(PasswordHashHash, PasswordHashHash, Challenge)
// truncated to 16 bytes. The same key serves both directions.
//
// RFC 3079 prescribes this key only for 128-bit MPPE and LM-based keys
// (StartKeyV1LM) for 40 and 56 bits. pppd and the Linux kernel use this key
// at every length, taking its first 8 bytes for 40 bits, so that is what a
// Linux peer expects.
func StartKeyV1(passwordHashHash [16]byte, challenge [8]byte) [16]byte {
	var in [16 + 16 + 8]byte
	copy(in[:], passwordHashHash[:])
	copy(in[16:], passwordHashHash[:])
	copy(in[32:], challenge[:])
	d := sha1.Sum(in[:])
	return [16]byte(d[:16])
}

// StartKeyV1LM returns the MPPE start key that RFC 3079 sections 2.1 and 2.2
// derive for 40- and 56-bit MPPE after MS-CHAPv1 authentication: the first 8
// bytes of the LAN Manager password hash (mschap.LMPasswordHash), the rest
// zero. The initial session key that an Encrypter or Decrypter makes from it
// with KeyBits 40 or 56 is the RFC's Get_Key result with its salt. It is of
// no use with 128-bit keys, and Linux peers do not use it at all (see
// StartKeyV1).
func StartKeyV1LM(lmPasswordHash [16]byte) [16]byte {
	var k [16]byte
	copy(k[:8], lmPasswordHash[:8])
	return k
}
