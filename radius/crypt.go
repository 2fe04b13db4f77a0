package radius

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2869"
)

// Microsoft's vendor ID and the attributes of RFC 2548 this package uses.
const (
	vendorMicrosoft = 311

	msCHAPResponse          = 1
	msCHAPError             = 2
	msMPPEEncryptionPolicy  = 7
	msMPPEEncryptionTypes   = 8
	msCHAPChallenge         = 11
	msCHAPMPPEKeys          = 12
	msMPPESendKey           = 16
	msMPPERecvKey           = 17
	msCHAP2Response         = 25
	msCHAP2Success          = 26
	msPrimaryDNSServer      = 28
	msSecondaryDNSServer    = 29
	msPrimaryNBNSServer     = 30
	msSecondaryNBNSServer   = 31
	msMaxVendorValue        = 253 - 4 - 2 // one sub-attribute filling a Vendor-Specific
	messageAuthenticatorLen = 16
)

// vsa is one sub-attribute of a Microsoft Vendor-Specific attribute.
type vsa struct {
	typ byte
	val []byte
}

// msAttributes returns every Microsoft sub-attribute of p in order. A
// Vendor-Specific attribute whose sub-attributes do not add up is skipped
// from the first bad one on: RFC 2865 section 5.26 leaves the format to the
// vendor, and a server that breaks it gets no say.
func msAttributes(p *radius.Packet) []vsa {
	var out []vsa
	for _, avp := range p.Attributes {
		if avp.Type != rfc2865.VendorSpecific_Type || len(avp.Attribute) < 4 {
			continue
		}
		if binary.BigEndian.Uint32(avp.Attribute[:4]) != vendorMicrosoft {
			continue
		}
		b := avp.Attribute[4:]
		for len(b) >= 2 {
			n := int(b[1])
			if n < 2 || n > len(b) {
				break
			}
			out = append(out, vsa{typ: b[0], val: b[2:n]})
			b = b[n:]
		}
	}
	return out
}

// addMS appends a Microsoft sub-attribute as its own Vendor-Specific
// attribute, the usual encoding.
func addMS(p *radius.Packet, typ byte, val []byte) error {
	if len(val) > msMaxVendorValue {
		return fmt.Errorf("Microsoft attribute %d: %d bytes is too long", typ, len(val))
	}
	a := make(radius.Attribute, 4+2+len(val))
	binary.BigEndian.PutUint32(a, vendorMicrosoft)
	a[4] = typ
	a[5] = byte(2 + len(val))
	copy(a[6:], val)
	p.Add(rfc2865.VendorSpecific_Type, a)
	return nil
}

// decryptSalted reverses the encryption RFC 2548 section 2.4.2 applies to
// MS-MPPE-Send-Key and MS-MPPE-Recv-Key: the value is a 2-byte Salt (high
// bit set) and a multiple of 16 bytes, the first of which, once decrypted,
// is the length of the key that follows. b(1) = MD5(S + R + Salt), then
// b(i) = MD5(S + c(i-1)), p(i) = c(i) xor b(i). R is the Request
// Authenticator of the Access-Request the attribute answers.
func decryptSalted(v, secret []byte, reqAuth [16]byte) ([]byte, error) {
	if len(v) < 2+16 || (len(v)-2)%16 != 0 {
		return nil, fmt.Errorf("salt-encrypted value of %d bytes: want 2 + a multiple of 16", len(v))
	}
	if v[0]&0x80 == 0 {
		return nil, errors.New("salt without its high bit set")
	}
	salt, c := v[:2], v[2:]
	p := make([]byte, len(c))
	h := md5.New()
	h.Write(secret)
	h.Write(reqAuth[:])
	h.Write(salt)
	var b [md5.Size]byte
	for i := 0; i < len(c); i += 16 {
		if i > 0 {
			h.Reset()
			h.Write(secret)
			h.Write(c[i-16 : i])
		}
		h.Sum(b[:0])
		subtle.XORBytes(p[i:i+16], c[i:i+16], b[:])
	}
	n := int(p[0])
	if n > len(p)-1 {
		return nil, fmt.Errorf("decrypted key length %d exceeds the %d bytes present", n, len(p)-1)
	}
	return p[1 : 1+n], nil
}

// decryptHidden reverses the User-Password hiding of RFC 2865 section 5.2,
// which RFC 2548 section 2.4.1 also applies to MS-CHAP-MPPE-Keys. Unlike
// radius.UserPassword it keeps zero bytes: a key may contain them.
func decryptHidden(v, secret []byte, reqAuth [16]byte) ([]byte, error) {
	if len(v) < 16 || len(v)%16 != 0 {
		return nil, fmt.Errorf("hidden value of %d bytes: want a multiple of 16", len(v))
	}
	p := make([]byte, len(v))
	h := md5.New()
	h.Write(secret)
	h.Write(reqAuth[:])
	var b [md5.Size]byte
	for i := 0; i < len(v); i += 16 {
		if i > 0 {
			h.Reset()
			h.Write(secret)
			h.Write(v[i-16 : i])
		}
		h.Sum(b[:0])
		subtle.XORBytes(p[i:i+16], v[i:i+16], b[:])
	}
	return p, nil
}

// mppeKey decrypts an MS-MPPE-Send-Key or -Recv-Key. Only 16-byte keys are
// taken, as pppd does: MPPE's shorter keys are prefixes of the 16-byte start
// key, and a shorter attribute would leave 128-bit MPPE without one.
func mppeKey(v, secret []byte, reqAuth [16]byte) ([16]byte, error) {
	k, err := decryptSalted(v, secret, reqAuth)
	if err != nil {
		return [16]byte{}, err
	}
	if len(k) != 16 {
		return [16]byte{}, fmt.Errorf("key of %d bytes, want 16", len(k))
	}
	return [16]byte(k), nil
}

// chapMPPEKeys decrypts MS-CHAP-MPPE-Keys (RFC 2548 section 2.4.1): 8 bytes
// of LM key and 16 of NT key, padded to 32. What servers (FreeRADIUS,
// Windows IAS) put in the NT key is the PasswordHashHash, from which the NAS
// makes the MS-CHAPv1 start key with the challenge (see pppd's
// radius_setmppekeys and mppe.StartKeyV1).
func chapMPPEKeys(v, secret []byte, reqAuth [16]byte) (ntKey [16]byte, err error) {
	if len(v) != 32 {
		return ntKey, fmt.Errorf("MS-CHAP-MPPE-Keys of %d bytes, want 32", len(v))
	}
	p, err := decryptHidden(v, secret, reqAuth)
	if err != nil {
		return ntKey, err
	}
	return [16]byte(p[8:24]), nil
}

// messageAuthenticator computes the Message-Authenticator (RFC 3579
// section 3.2, RFC 2869 section 5.14) of the encoded packet b, whose
// Message-Authenticator value sits at b[off:off+16], with auth in the
// Authenticator field: the Request Authenticator for Access-Requests and
// for replies, zeros for Accounting-, Disconnect- and CoA-Requests (RFC
// 5176 section 3.3, as FreeRADIUS does). b is not modified.
func messageAuthenticator(b []byte, off int, secret []byte, auth [16]byte) [16]byte {
	m := hmac.New(md5.New, secret)
	m.Write(b[:4])
	m.Write(auth[:])
	m.Write(b[20:off])
	var zero [messageAuthenticatorLen]byte
	m.Write(zero[:])
	m.Write(b[off+messageAuthenticatorLen:])
	var out [16]byte
	m.Sum(out[:0])
	return out
}

// findMessageAuthenticator returns the offset of the value of the
// Message-Authenticator attribute in the encoded packet b, or -1 when there
// is none. It reports an error when there are several or one of the wrong
// length (RFC 3579 section 3.2 forbids both). b must have parsed.
func findMessageAuthenticator(b []byte) (int, error) {
	off := -1
	n := int(binary.BigEndian.Uint16(b[2:4]))
	for i := 20; i+2 <= n; {
		l := int(b[i+1])
		if l < 2 || i+l > n {
			return -1, errors.New("malformed attributes")
		}
		if radius.Type(b[i]) == rfc2869.MessageAuthenticator_Type {
			if l != 2+messageAuthenticatorLen {
				return -1, fmt.Errorf("Message-Authenticator of %d bytes", l-2)
			}
			if off >= 0 {
				return -1, errors.New("several Message-Authenticator attributes")
			}
			off = i + 2
		}
		i += l
	}
	return off, nil
}

// checkMessageAuthenticator verifies the Message-Authenticator of the
// encoded packet b against auth (see messageAuthenticator). present is false
// when there is none; ok is false when there is one and it is wrong.
func checkMessageAuthenticator(b, secret []byte, auth [16]byte) (present, ok bool) {
	off, err := findMessageAuthenticator(b)
	if err != nil {
		return true, false
	}
	if off < 0 {
		return false, true
	}
	want := messageAuthenticator(b, off, secret, auth)
	return true, hmac.Equal(want[:], b[off:off+messageAuthenticatorLen])
}

// encodeSigned encodes p with a Message-Authenticator filled in. p must
// already contain a Message-Authenticator attribute of 16 zero bytes (so
// that its place is known). For replies and Accounting-, Disconnect- and
// CoA-Requests, where the Authenticator field is a hash over the packet, the
// field is computed after the Message-Authenticator, as RFC 3579 requires:
// p.Authenticator must hold the Request Authenticator (replies) or anything
// (requests: zeros are used). maAuth is what the Message-Authenticator is
// computed with (see messageAuthenticator).
func encodeSigned(p *radius.Packet, maAuth [16]byte) ([]byte, error) {
	b, err := p.MarshalBinary()
	if err != nil {
		return nil, err
	}
	off, err := findMessageAuthenticator(b)
	if err != nil || off < 0 {
		return nil, errors.New("packet lacks its Message-Authenticator placeholder")
	}
	ma := messageAuthenticator(b, off, p.Secret, maAuth)
	for _, avp := range p.Attributes {
		if avp.Type == rfc2869.MessageAuthenticator_Type {
			avp.Attribute = ma[:]
		}
	}
	switch p.Code {
	case radius.CodeAccessRequest, radius.CodeStatusServer:
		copy(b[off:], ma[:])
		return b, nil
	}
	// Encode computes the Authenticator field over the final attributes.
	return p.Encode()
}
