package ppp

import "fmt"

// AuthMethod is an authentication protocol as negotiated by the LCP
// Authentication-Protocol option.
type AuthMethod uint8

// Authentication methods, weakest first.
const (
	AuthNone     AuthMethod = iota
	AuthPAP                 // RFC 1334
	AuthCHAPMD5             // RFC 1994, algorithm 5
	AuthMSCHAPv1            // RFC 2433, CHAP algorithm 0x80
	AuthMSCHAPv2            // RFC 2759, CHAP algorithm 0x81
)

// CHAP algorithm numbers carried in the Authentication-Protocol option.
const (
	CHAPAlgMD5      = 0x05
	CHAPAlgMSCHAPv1 = 0x80
	CHAPAlgMSCHAPv2 = 0x81
)

func (m AuthMethod) String() string {
	switch m {
	case AuthNone:
		return "none"
	case AuthPAP:
		return "PAP"
	case AuthCHAPMD5:
		return "CHAP-MD5"
	case AuthMSCHAPv1:
		return "MS-CHAP"
	case AuthMSCHAPv2:
		return "MS-CHAP-v2"
	}
	return fmt.Sprintf("auth-%d", uint8(m))
}

// Protocol returns the PPP protocol that carries the method's packets.
func (m AuthMethod) Protocol() Protocol {
	if m == AuthPAP {
		return ProtoPAP
	}
	return ProtoCHAP
}

// OptionData returns the value of the LCP Authentication-Protocol option
// that asks for m.
func (m AuthMethod) OptionData() []byte {
	switch m {
	case AuthPAP:
		return []byte{0xc0, 0x23}
	case AuthCHAPMD5:
		return []byte{0xc2, 0x23, CHAPAlgMD5}
	case AuthMSCHAPv1:
		return []byte{0xc2, 0x23, CHAPAlgMSCHAPv1}
	case AuthMSCHAPv2:
		return []byte{0xc2, 0x23, CHAPAlgMSCHAPv2}
	}
	return nil
}

// ParseAuthOption decodes the value of an Authentication-Protocol option.
// ok is false for protocols and CHAP algorithms we do not implement (EAP,
// SHA-1 CHAP, ...), which the caller naks.
func ParseAuthOption(data []byte) (m AuthMethod, ok bool) {
	switch {
	case len(data) == 2 && data[0] == 0xc0 && data[1] == 0x23:
		return AuthPAP, true
	case len(data) == 3 && data[0] == 0xc2 && data[1] == 0x23:
		switch data[2] {
		case CHAPAlgMD5:
			return AuthCHAPMD5, true
		case CHAPAlgMSCHAPv1:
			return AuthMSCHAPv1, true
		case CHAPAlgMSCHAPv2:
			return AuthMSCHAPv2, true
		}
	}
	return AuthNone, false
}
