package integration

import (
	"net"
	"regexp"
	"testing"
	"time"

	"github.com/gopptp/gopptp/gre"
	"github.com/gopptp/gopptp/ppp"
	"github.com/gopptp/gopptp/pptp"
)

// TestIncomingCall plays a LAC-style peer that announces an incoming call
// (RFC 2637 2.9-2.11) instead of asking for an outgoing one: the server
// answers as PNS, starts PPP once the call is connected, and ends the
// session when the peer hangs up with Call-Disconnect-Notify.
func TestIncomingCall(t *testing.T) {
	tp := newTopo(t)
	srv := tp.startServer(t)
	nc := tp.cli.Dial(t, "tcp", net.JoinHostPort(srvUnder.Addr().String(), "1723"))
	defer nc.Close()
	c := pptp.NewConn(nc, 0)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	send := func(m pptp.Message) {
		t.Helper()
		if err := c.Send(m); err != nil {
			t.Fatal(err)
		}
	}
	read := func() pptp.Message {
		t.Helper()
		m, err := c.Read()
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	send(&pptp.StartCtrlConnRequest{ProtocolVersion: pptp.ProtocolVersion, FramingCaps: pptp.FramingAny, BearerCaps: pptp.BearerAny, HostName: "lac"})
	if r, ok := read().(*pptp.StartCtrlConnReply); !ok || r.Result != pptp.StartSuccess {
		t.Fatalf("SCCRP: %+v", r)
	}

	// The GRE socket must exist before the server's first LCP packet.
	var gc net.PacketConn
	if err := tp.cli.Do(func() (err error) {
		gc, err = net.ListenPacket("ip4:gre", cliUnder.Addr().String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer gc.Close()

	const ourCall = 777
	send(&pptp.IncomingCallRequest{CallID: ourCall, CallSerialNumber: 1, BearerType: pptp.BearerAnalog, DialingNumber: "5551234", DialingNumberLength: 7})
	icrp, ok := read().(*pptp.IncomingCallReply)
	if !ok || icrp.Result != pptp.IncomingConnect || icrp.PeerCallID != ourCall || icrp.CallID == 0 {
		t.Fatalf("ICRP: %+v", icrp)
	}
	send(&pptp.IncomingCallConnected{PeerCallID: icrp.CallID, ConnectSpeed: 64000, RecvWindowSize: 64, FramingType: pptp.FramingSync})

	// The server, now PNS for this call, starts LCP towards our Call ID.
	gc.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 2048)
	for {
		n, _, err := gc.ReadFrom(buf)
		if err != nil {
			t.Fatalf("no LCP from the server over GRE: %v", err)
		}
		h, payload, err := gre.Parse(buf[:n])
		if err != nil || h.CallID != ourCall || !h.HasSeq {
			continue
		}
		proto, info, err := ppp.ParseFrame(payload)
		if err != nil || proto != ppp.ProtoLCP {
			t.Fatalf("first GRE data is %v %v, want LCP", proto, err)
		}
		if p, err := ppp.ParsePacket(info); err != nil || p.Code != ppp.ConfReq {
			t.Fatalf("LCP packet %+v %v, want Configure-Request", p, err)
		}
		break
	}
	// The PAC hangs up.
	send(&pptp.CallDisconnectNotify{CallID: ourCall, Result: pptp.DisconnectLostCarrier})
	srv.WaitFor(t, regexp.MustCompile(`msg="session down".*reason="call disconnected by peer"`), 5*time.Second)
}
