// Package hdlc implements the octet-stuffed, asynchronous HDLC-like framing
// of RFC 1662 section 4, which pppd speaks on a serial line or a pty.
//
// The pptp client's --nolaunchpppd mode runs as pppd's pty: pppd writes
// framed PPP frames to the client's standard input and reads framed frames
// from its standard output, while PPTP carries the same frames in GRE with
// no framing at all (RFC 2637 section 4). A Decoder turns pppd's byte
// stream into bare frames for the tunnel and an Encoder turns the tunnel's
// frames back into the byte stream pppd expects.
//
// A frame on the wire is
//
//	0x7e | address control protocol information | FCS | 0x7e
//
// where every 0x7e, 0x7d and every octet below 0x20 whose bit is set in the
// sender's async control character map (ACCM) is sent as 0x7d followed by
// the octet XOR 0x20. The frames this package accepts and returns are the
// part between the flags without the FCS and without the escaping: the
// address and control fields are passed through untouched (or absent, with
// address-and-control-field compression), because the PPP layer on the
// other side of the tunnel, not the framing, decides what they mean.
//
// Framing uses the 16-bit FCS, the default of RFC 1662 and what pppd uses
// on a pty; the 32-bit FCS, which LCP could negotiate, is provided only as
// a checksum function.
package hdlc
