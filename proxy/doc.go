// Package proxy lets local programs reach the network behind a PPTP tunnel
// without a TUN device: the client runs the tunnel's IP packets through a
// user-space TCP/IP stack (gVisor, through golang.zx2c4.com/wireguard's
// netstack) and serves a SOCKS5 proxy (RFC 1928, with RFC 1929
// username/password authentication) and an HTTP proxy (CONNECT and
// absolute-URI forwarding) on local addresses. Every outgoing connection,
// datagram and name lookup goes through a [Network], which for rootless
// mode is the user-space stack: names are resolved by the tunnel's DNS
// servers, never by the host's.
//
// The tunnel address is known only once IPCP is up, and the netstack
// cannot gain an address after it is created, while the data path wants
// its packet device from the start (GRE arrives as soon as the call is
// placed). [DeferredDevice] bridges the two: the data path owns it from the
// beginning, and the client attaches the netstack device when IPCP comes
// up:
//
//	dev := proxy.NewDeferredDevice(mtu)
//	engine := datapath.NewEngine(datapath.Config{TUN: dev, DefaultCall: true, ...})
//	socksLn, err := net.Listen("tcp", "127.0.0.1:1080") // fail early if taken
//	...
//	// session Up hook, with i.Local and i.DNS from IPCP:
//	nsDev, nw, err := proxy.NewNetstack(i.Local, i.DNS, mtu)
//	dev.Attach(nsDev)
//	go (&proxy.SOCKS5{Network: nw}).Serve(pctx, socksLn)
//
// On the way down, cancel pctx and wait for Serve to return before the
// engine closes the device, so that the stack is quiet when it closes.
//
// Servers hold no state between calls to Serve: a zero SOCKS5 or HTTPProxy
// with its Network set is ready to use, and one value may serve several
// listeners at once.
package proxy
