// Package radius authenticates PPP peers and accounts for their sessions
// through RADIUS servers, the way pppd's radius plugin does for pptpd:
//
//   - Verifier implements auth.Verifier for PAP (RFC 2865), CHAP-MD5, and
//     MS-CHAP and MS-CHAP-v2 (RFC 2548), taking the MS-CHAP-v2
//     authenticator response and the MPPE keys from the Access-Accept, and
//     returns the rest of what the server granted (addresses, timeouts,
//     Class, MPPE policy) as a Grant.
//   - Accounting sends Accounting-Requests (RFC 2866): Start, Interim-Update
//     and Stop, with Session runs the interim timer of one session.
//   - DAEServer answers Disconnect-Requests and CoA-Requests (RFC 5176) by
//     calling back into the PPTP server through the Sessions interface.
//   - Client does the transport for all of them: several servers with
//     failover, per-attempt timeouts and retransmissions, dead-server
//     marking, Message-Authenticator (RFC 3579) and authenticator checks,
//     counters (Stats) and a latency hook (Config.Observe).
//
// The configuration comes either from pptpd-style direct options
// (FromOptions) or from the radiusclient.conf file that pppd's radius
// plugin reads (LoadRadiusclientConf).
//
// Replies from RADIUS servers are treated as hostile input: a reply that
// does not match an outstanding request, or fails the authenticator or
// Message-Authenticator check, is dropped and counted; malformed attributes
// of an authentic reply turn into a failed login, never a panic.
package radius
