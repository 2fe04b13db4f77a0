package integration

// Faults on the path between client and server: loss and reordering under
// a transfer, a client that vanishes, a server that is killed, and a
// server that shuts down with several sessions up. The path is the
// in-process faulty wire of internal/netns (newTopoWith).

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gopptp/gopptp/internal/netns"
	"github.com/gopptp/gopptp/pptp"
)

// TestFaultsLossyTransfer moves data both ways through the tunnel while
// the wire loses and reorders 5% of the GRE packets in each direction.
// TCP must deliver every byte; GRE must restore the order it can and count
// the rest as lost; stateful MPPE, which cannot decrypt past a lost
// packet, must resynchronise through CCP Reset-Request (RFC 3078 section
// 8) in both directions, as its counters show, while stateless MPPE never
// needs to.
//
// Stateful MPPE moves less: after a loss it drops every packet until the
// peer's flushed one, so the TCP flow loses its whole window each time and
// waits for a retransmission timeout (some seconds per loss once TCP backs
// off), as it does with pppd.
func TestFaultsLossyTransfer(t *testing.T) {
	lossy := netns.Faults{Loss: 0.05, Reorder: 0.05, Proto: netns.ProtoGRE, Seed: 7}
	for _, tc := range []struct {
		name           string
		server, client []string
		wantMPPE       string
		stateful       bool
		size           int64
	}{
		{name: "mppe128-stateless", wantMPPE: "MPPE-128 stateless", size: 3 << 20},
		{name: "mppe128-stateful", server: []string{"require-mschap-v2", "require-mppe-128", "mppe-stateful"},
			client: []string{"require-mppe-stateful"}, wantMPPE: "MPPE-128 stateful", stateful: true, size: 64 << 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tp := newTopoWith(t, &netns.Faults{})
			metrics := netip.AddrPortFrom(srvUnder.Addr(), 9100).String()
			tp.confExtra = []string{"metrics-listen " + metrics}
			tp.startServer(t, tc.server...)
			c := tp.startClient(t, "ppp0", append([]string{"name", user, "password", password}, tc.client...)...)
			c.p.WaitFor(t, regexp.MustCompile(regexp.QuoteMeta(tc.wantMPPE+" enabled")), 5*time.Second)
			// The session comes up on a clean wire; the faults start
			// with the traffic.
			tp.wire.SetFaults(lossy)
			up := netns.TransferTCP(t, tp.cli, tp.lan, lanHost.Addr(), tc.size)
			down := netns.TransferTCP(t, tp.lan, tp.cli, c.local, tc.size)
			tp.wire.SetFaults(netns.Faults{})
			t.Logf("under %v: client->LAN %v, LAN->client %v", lossy, up, down)

			// The faults happened, in both directions.
			for _, d := range []netns.Direction{netns.AtoB, netns.BtoA} {
				ws := tp.wire.Stats(d)
				t.Logf("wire %v: %v", d, ws)
				if ws.Lost == 0 || ws.Reordered == 0 {
					t.Errorf("wire %v lost %d and reordered %d frames: the faults did not apply", d, ws.Lost, ws.Reordered)
				}
			}
			ss := tp.sessions(t)
			if len(ss) != 1 {
				t.Fatalf("%d sessions on the server, want 1", len(ss))
			}
			s := ss[0]
			t.Logf("server session: GRE lost %d, reordered %d, dropped %d; MPPE resets sent %d, resyncs %d, resets received %d",
				s.Lost, s.Reordered, s.Dropped, s.MPPEResetsSent, s.MPPEResyncs, s.MPPEResetsReceived)
			if s.Lost == 0 || s.Reordered == 0 {
				t.Errorf("server counted %d GRE packets lost and %d reordered under loss and reordering", s.Lost, s.Reordered)
			}
			m := tp.scrape(t, metrics)
			mppe := func(event string) float64 { return m[`pptp_mppe_resync_total{event="`+event+`"}`] }
			if tc.stateful {
				// Loss from the client: the server asks for resets and
				// resynchronises. Loss towards the client: the client
				// asks, and the server flushes.
				if s.MPPEResetsSent == 0 || s.MPPEResyncs == 0 || s.MPPEResetsReceived == 0 {
					t.Errorf("stateful MPPE under loss: resets sent %d, resyncs %d, resets received %d; want all > 0",
						s.MPPEResetsSent, s.MPPEResyncs, s.MPPEResetsReceived)
				}
				// Read later, the metrics may have grown (the last
				// packets of the flows), never shrunk.
				if mppe("reset_sent") < float64(s.MPPEResetsSent) || mppe("resynced") < float64(s.MPPEResyncs) ||
					mppe("reset_received") < float64(s.MPPEResetsReceived) {
					t.Errorf("metrics behind pptpctl: reset_sent %v, resynced %v, reset_received %v",
						mppe("reset_sent"), mppe("resynced"), mppe("reset_received"))
				}
				show := tp.pptpctl(t, "show", fmt.Sprint(s.ID))
				if !regexp.MustCompile(`MPPE resets sent/resyncs/resets received:\s+[1-9]\d*/[1-9]\d*/[1-9]\d*\n`).MatchString(show) {
					t.Errorf("pptpctl show lacks the MPPE resets:\n%s", show)
				}
			} else if s.MPPEResetsSent != 0 || s.MPPEResyncs != 0 || s.MPPEResetsReceived != 0 || mppe("reset_sent") != 0 {
				t.Errorf("stateless MPPE asked for resets: sent %d, resyncs %d, received %d",
					s.MPPEResetsSent, s.MPPEResyncs, s.MPPEResetsReceived)
			}
			// The session survived intact and ends cleanly. In stateful
			// mode a packet lost last under the faults shows only when
			// the next one arrives, which cannot be decrypted and goes
			// (RFC 3078 section 8.2): it asks for the flush that resumes
			// decryption. A first ping may be that packet.
			tp.cli.Ping(lanHost.Addr(), 1, time.Second)
			netns.Ping(t, tp.cli, lanHost.Addr(), 3, 5*time.Second)
			c.stop(t)
		})
	}
}

// TestFaultsDeadClient unplugs a client's wire: the server's LCP echoes
// go unanswered, the session is torn down within the echo budget, and
// everything it held is given back: its address (the pool has only that
// one, and connections 1 leaves room for one session) goes to the next
// client, its route and its control connection are gone.
func TestFaultsDeadClient(t *testing.T) {
	const (
		interval, failures, restart = 1, 3, 1 // seconds, echoes, seconds
		maxTerminate                = 2       // pppd's default
		only                        = "192.168.0.240"
	)
	tp := newTopoWith(t, &netns.Faults{})
	tp.remoteIP = only
	tp.confExtra = []string{"connections 1"}
	srv := tp.startServer(t, fmt.Sprintf("lcp-echo-interval %d", interval), fmt.Sprintf("lcp-echo-failure %d", failures),
		fmt.Sprintf("lcp-restart %d", restart))
	c := tp.startClient(t, "ppp0", "name", user, "password", password)
	if c.local != netip.MustParseAddr(only) {
		t.Fatalf("client got %v, want %s", c.local, only)
	}
	first := tp.sessions(t)
	if len(first) != 1 {
		t.Fatalf("%d sessions", len(first))
	}
	netns.Ping(t, tp.cli, lanHost.Addr(), 2, 5*time.Second)

	downs := srv.Count(sessionDownRE)
	cut := time.Now()
	if err := tp.wire.Unplug(netns.SideA); err != nil {
		t.Fatal(err)
	}
	// Echoes at every interval, the link declared dead at the tick after
	// the last unanswered one, then LCP Terminate-Requests that nobody
	// acknowledges.
	budget := time.Duration(interval*(failures+1)+restart*maxTerminate) * time.Second
	line := srv.WaitForNth(t, sessionDownRE, downs+1, budget+5*time.Second)
	took := time.Since(cut)
	t.Logf("dead client detected in %v (budget %v): %s", took.Round(time.Millisecond), budget, line)
	if !strings.Contains(line, "no response to 3 echo-requests") {
		t.Errorf("session ended for another reason than the echoes: %s", line)
	}
	if took < time.Duration(failures*interval)*time.Second || took > budget+2*time.Second {
		t.Errorf("dead client detected after %v, want between %ds and the budget %v", took, failures*interval, budget)
	}

	// Nothing of the session is left: no session, no route to its
	// address, and the control connection is closed (the server gave up
	// on the Stop-Control-Connection-Request nobody answers).
	if ss := tp.sessions(t); len(ss) != 0 {
		t.Errorf("sessions after the teardown: %+v", ss)
	}
	if st := tp.stats(t); st.Sessions != 0 || st.Negotiating != 0 {
		t.Errorf("server stats after the teardown: %d up, %d negotiating", st.Sessions, st.Negotiating)
	}
	if out := tp.srv.MustRun(t, "ip", "route", "show", only); strings.TrimSpace(out) != "" {
		t.Errorf("route to the dead client's address left behind: %s", out)
	}
	netns.WaitFor(t, 10*time.Second, func() bool {
		out, _ := tp.srv.Run("ss", "-Htn", "state", "established", "dst", cliUnder.Addr().String())
		return strings.TrimSpace(out) == ""
	}, "the dead client's control connection to close")

	// A client on another host gets the one address and the one session
	// slot back. It dials the server's address on its own link: pptpd's
	// GRE leaves from the address of the outgoing interface, whatever
	// address the control connection went to.
	cli2 := netns.NewHost(t, "cli2")
	netns.Connect(t, cli2, tp.srv, netip.MustParsePrefix("10.0.3.2/24"), netip.MustParsePrefix("10.0.3.1/24"))
	other := *tp
	other.cli = cli2
	p := other.startPPTP(t, "10.0.3.1", "ifname", "ppp1", "defaultroute", "name", user, "password", password)
	if local := other.waitUps(t, p, 1, 20*time.Second); local != netip.MustParseAddr(only) {
		t.Errorf("the next client got %v, want the freed %s", local, only)
	}
	second := tp.sessions(t)
	if len(second) != 1 || second[0].ID == first[0].ID || second[0].Peer != "10.0.3.2" {
		t.Errorf("sessions after the new login: %+v (the dead one: %+v)", second, first)
	}
	netns.Ping(t, cli2, lanHost.Addr(), 2, 5*time.Second)
	stopClient(t, p)
}

// sessionDownRE matches the server's "session down" line in text logs.
var sessionDownRE = regexp.MustCompile(`msg="session down".*`)

// TestFaultsServerKilled kills pptpd with SIGKILL under a live session.
// With the path intact the kernel closes the control connection and the
// client hangs up at once; with the path cut at the same moment (the
// server's host died) nothing arrives, and the client's LCP echoes must
// find the server dead within their budget.
func TestFaultsServerKilled(t *testing.T) {
	const (
		interval, failures, restart = 1, 3, 1 // seconds, echoes, seconds
		maxTerminate                = 2       // pppd's default
	)
	// Echoes go out at every interval; the link is dead at the tick after
	// the last of failures unanswered ones, which the interval before the
	// kill may already count.
	echoMin := time.Duration((failures-1)*interval) * time.Second
	echoMax := time.Duration((failures+1)*interval) * time.Second
	// Then LCP Terminate-Requests nobody acknowledges, and the polite
	// Call-Clear-Request and Stop-Control-Connection-Request on a control
	// connection nobody answers either (two seconds each).
	exitMax := echoMax + time.Duration(restart*maxTerminate)*time.Second + 4*time.Second
	for _, tc := range []struct {
		name     string
		cut      bool
		wantCode int
		wantMsg  string
		within   time.Duration
	}{
		{name: "control-connection-closed", wantCode: 16, wantMsg: "control connection lost", within: 3 * time.Second},
		{name: "path-cut", cut: true, wantCode: 15, wantMsg: "server not responding: peer not responding", within: exitMax + 2*time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tp := newTopoWith(t, &netns.Faults{})
			srv := tp.startServer(t)
			c := tp.startClient(t, "ppp0", "name", user, "password", password, "debug",
				"lcp-echo-interval", fmt.Sprint(interval), "lcp-echo-failure", fmt.Sprint(failures), "lcp-restart", fmt.Sprint(restart))
			netns.Ping(t, tp.cli, tunLocal, 2, 5*time.Second)
			if tc.cut {
				tp.wire.Cut(true)
			}
			start := time.Now()
			srv.Signal(syscall.SIGKILL)
			code, err := c.p.Wait(tc.within + 10*time.Second)
			took := time.Since(start)
			t.Logf("client exited %d after %v", code, took.Round(time.Millisecond))
			if err != nil || code != tc.wantCode || !strings.Contains(c.p.Output(), tc.wantMsg) {
				t.Errorf("client exit %d (%v), want %d with %q:\n%s", code, err, tc.wantCode, tc.wantMsg, c.p.Output())
			}
			if took > tc.within {
				t.Errorf("client took %v to exit after the server had gone, want at most %v", took, tc.within)
			}
			if !tc.cut {
				return
			}
			// The moment the echoes found the server dead: the client's
			// first LCP Terminate-Request.
			at, ok := logTime(c.p.Output(), regexp.MustCompile(`msg=sent .*proto=LCP code=TermReq`))
			if !ok {
				t.Fatalf("the client never sent LCP Terminate-Request:\n%s", c.p.Output())
			}
			detect := at.Sub(start)
			t.Logf("client found the server dead after %v (echo budget %v to %v)", detect.Round(time.Millisecond), echoMin, echoMax)
			if detect < echoMin || detect > echoMax+time.Second {
				t.Errorf("client found the server dead after %v, want %v to %v", detect, echoMin, echoMax)
			}
		})
	}
}

// logTime returns the time of the first line of a text log that matches re.
func logTime(out string, re *regexp.Regexp) (time.Time, bool) {
	for l := range strings.Lines(out) {
		if !re.MatchString(l) {
			continue
		}
		f, _, _ := strings.Cut(strings.TrimPrefix(l, "time="), " ")
		at, err := time.Parse(time.RFC3339Nano, f)
		return at, err == nil
	}
	return time.Time{}, false
}

// controlTap records the PPTP control messages the wire delivers from the
// server (TCP port 1723) to the client host, per client port, by
// reassembling each TCP stream from the frames the wire forwards.
type controlTap struct {
	mu      sync.Mutex
	streams map[uint16]*tcpStream
}

type tcpStream struct {
	isn  uint32 // the server's initial sequence number
	syn  bool
	segs []tcpSeg
}

type tcpSeg struct {
	seq  uint32
	data []byte
}

// tapControl starts recording on tp's wire.
func tapControl(tp *topo) *controlTap {
	ct := &controlTap{streams: map[uint16]*tcpStream{}}
	tp.wire.Tap(func(d netns.Direction, frame []byte) {
		if d == netns.BtoA {
			ct.frame(frame)
		}
	})
	return ct
}

func (ct *controlTap) frame(f []byte) {
	// Ethernet, IPv4 without assumptions on its header length, TCP.
	if len(f) < 14+20 || binary.BigEndian.Uint16(f[12:]) != 0x0800 {
		return
	}
	ip := f[14:]
	ihl := int(ip[0]&0x0f) * 4
	if ip[0]>>4 != 4 || ip[9] != 6 || ihl < 20 || len(ip) < ihl+20 {
		return
	}
	if total := int(binary.BigEndian.Uint16(ip[2:])); total >= ihl+20 && total < len(ip) {
		ip = ip[:total] // Ethernet padding
	}
	tcp := ip[ihl:]
	if binary.BigEndian.Uint16(tcp[0:]) != pptp.Port {
		return
	}
	off := int(tcp[12]>>4) * 4
	if off < 20 || len(tcp) < off {
		return
	}
	port, seq, flags := binary.BigEndian.Uint16(tcp[2:]), binary.BigEndian.Uint32(tcp[4:]), tcp[13]
	ct.mu.Lock()
	defer ct.mu.Unlock()
	s := ct.streams[port]
	if s == nil {
		s = &tcpStream{}
		ct.streams[port] = s
	}
	if flags&0x02 != 0 { // SYN
		s.isn, s.syn = seq, true
	}
	if len(tcp) > off {
		s.segs = append(s.segs, tcpSeg{seq, append([]byte(nil), tcp[off:]...)})
	}
}

// messages returns, per client port, the control messages the server sent
// on that connection, in order, as far as the stream is contiguous.
func (ct *controlTap) messages(t *testing.T) map[uint16][]pptp.Message {
	t.Helper()
	ct.mu.Lock()
	defer ct.mu.Unlock()
	out := map[uint16][]pptp.Message{}
	for port, s := range ct.streams {
		if !s.syn {
			continue
		}
		segs := slices.Clone(s.segs)
		rel := func(g tcpSeg) uint32 { return g.seq - s.isn - 1 }
		slices.SortStableFunc(segs, func(a, b tcpSeg) int { return int(int64(rel(a)) - int64(rel(b))) })
		var stream []byte
		for _, g := range segs {
			r := int(rel(g))
			if r > len(stream) {
				break // a gap: what follows was not seen
			}
			if end := r + len(g.data); end > len(stream) {
				stream = append(stream, g.data[len(stream)-r:]...)
			}
		}
		for len(stream) >= 2 {
			n := int(binary.BigEndian.Uint16(stream))
			if n < 2 || n > len(stream) {
				break
			}
			m, err := pptp.Parse(stream[:n])
			if err != nil {
				t.Errorf("port %d: undecodable control message from the server: %v", port, err)
				break
			}
			out[port] = append(out[port], m)
			stream = stream[n:]
		}
	}
	return out
}

// checkShutdownMessages checks that each of the want client connections
// that placed a call heard the call disconnected for an administrative
// shutdown and then the control connection stopped for a local shutdown.
func (ct *controlTap) checkShutdownMessages(t *testing.T, want int) {
	t.Helper()
	calls := 0
	for port, ms := range ct.messages(t) {
		types := make([]string, len(ms))
		cdn, stop := -1, -1
		placed := false
		for i, m := range ms {
			types[i] = m.Type().String()
			switch m := m.(type) {
			case *pptp.OutgoingCallReply:
				placed = true
			case *pptp.CallDisconnectNotify:
				if m.Result == pptp.DisconnectAdminShutdown && cdn < 0 {
					cdn = i
				}
			case *pptp.StopCtrlConnRequest:
				if m.Reason == pptp.StopLocalShutdown && stop < 0 {
					stop = i
				}
			}
		}
		if !placed {
			continue
		}
		calls++
		t.Logf("server -> client port %d: %s", port, strings.Join(types, ", "))
		if cdn < 0 || stop < cdn {
			t.Errorf("client port %d did not hear Call-Disconnect-Notify (admin shutdown) then Stop-Control-Connection-Request (local shutdown): %s",
				port, strings.Join(types, ", "))
		}
	}
	if calls != want {
		t.Errorf("%d control connections placed a call, want %d", calls, want)
	}
}
