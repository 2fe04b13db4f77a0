package integration

// TestChaos drives a live pptpd with random sequences of valid and invalid
// control messages and PPP packets on many connections from an attacker
// host, and sprays GRE at it, while a real user's session (the victim)
// carries traffic from another host. Afterwards the victim must be
// untouched, new users must get in, every chaos call must be gone and the
// server must be back to the goroutines and file descriptors it had
// before.
//
// The run is driven by one seed, logged at the start: each worker and
// sprayer draws its decisions from its own generator derived from it, so
// GOPPTP_CHAOS_SEED=N replays the same decisions (the interleaving with the
// server still depends on timing). GOPPTP_CHAOS_DURATION (default 20s) and
// GOPPTP_CHAOS_WORKERS (default 20) scale the run.

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gopptp/gopptp/control"
	"github.com/gopptp/gopptp/gre"
	"github.com/gopptp/gopptp/internal/netns"
	"github.com/gopptp/gopptp/ppp"
	"github.com/gopptp/gopptp/pptp"
)

var (
	chaosAtkAddr = netip.MustParsePrefix("10.0.3.2/24") // the attacker host
	chaosSrvAtk  = netip.MustParsePrefix("10.0.3.1/24") // the server, on the attacker's link
)

// Tolerances for "back to baseline": a scrape in flight, a timer callback
// running, a TCP connection in the middle of closing.
const (
	chaosGoroutineSlack = 2
	chaosFDSlack        = 1
)

func TestChaos(t *testing.T) {
	seed := chaosEnvUint(t, "GOPPTP_CHAOS_SEED", uint64(time.Now().UnixNano()))
	dur := 20 * time.Second
	if s := os.Getenv("GOPPTP_CHAOS_DURATION"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("GOPPTP_CHAOS_DURATION: %v", err)
		}
		dur = d
	}
	workers := int(chaosEnvUint(t, "GOPPTP_CHAOS_WORKERS", 20))
	if workers < 1 || workers > 30 {
		t.Fatalf("GOPPTP_CHAOS_WORKERS=%d out of range 1-30", workers)
	}
	t.Logf("chaos seed %d (replay with GOPPTP_CHAOS_SEED=%d), %d workers for %v", seed, seed, workers, dur)

	tp := newTopo(t)
	atk := netns.NewHost(t, "atk")
	netns.Connect(t, atk, tp.srv, chaosAtkAddr, chaosSrvAtk)
	metrics := netip.AddrPortFrom(srvUnder.Addr(), 9100).String()
	// The chaos comes from one address: switch off what would refuse most
	// of it before it reaches the protocol code. stimeout 3 lets the
	// server close silent connections within the run.
	tp.confExtra = []string{"metrics-listen " + metrics, "connection-rate off", "max-half-open 4096",
		"lockout-failures off", "stimeout 3"}
	srv := tp.startServer(t)
	pid := srv.Pid()
	m := chaosMeasure(t, tp, metrics, pid)
	t.Logf("after start: %v", m)

	// One session up and down, so that lazily started goroutines are in
	// the baseline.
	warm := tp.startClient(t, "ppp0", "name", user, "password", password)
	netns.Ping(t, tp.cli, lanHost.Addr(), 2, 5*time.Second)
	warm.stop(t)
	srv.WaitFor(t, regexp.MustCompile(`msg="session down"`), 5*time.Second)

	// The victim: a real user who must not notice anything.
	victim := tp.startClient(t, "ppp0", "name", user, "password", password)
	netns.Ping(t, tp.cli, lanHost.Addr(), 3, 5*time.Second)
	ss := tp.sessions(t)
	if len(ss) != 1 || ss[0].State != "up" {
		t.Fatalf("sessions before the chaos: %+v", ss)
	}
	vs := ss[0]
	t.Logf("victim: session %d (peer call ID %d), tunnel %s", vs.ID, vs.PeerCallID, vs.Remote)
	downRE := regexp.MustCompile(`msg="session down".* call=` + strconv.Itoa(int(vs.ID)) + `( |$)`)

	base := chaosBaseline(t, tp, metrics, pid)
	t.Logf("baseline (victim up): %v", base)
	before := chaosScrape(t, tp, metrics)

	// The chaos, with the victim pinging through it.
	run := newChaosRun(t, atk, seed, workers, vs.ID, vs.PeerCallID, time.Now().Add(dur))
	pingDone := make(chan []time.Duration, 1)
	go func() {
		rtts, _ := tp.cli.Ping(lanHost.Addr(), int(dur/(200*time.Millisecond)), 2*time.Second)
		pingDone <- rtts
	}()
	run.start()
	run.wait()
	rtts := <-pingDone
	lost := 0
	for _, d := range rtts {
		if d == 0 {
			lost++
		}
	}
	t.Logf("chaos done: %s", run.st)
	t.Logf("victim pings during the chaos: %d/%d answered, rtt %s", len(rtts)-lost, len(rtts), chaosRTTs(rtts))
	if len(rtts) == 0 || lost > len(rtts)/20 {
		t.Errorf("victim lost %d of %d pings during the chaos", lost, len(rtts))
	}

	select {
	case <-srv.Done():
		t.Fatalf("server died during the chaos:\n%s", chaosTail(srv.Output(), 60))
	default:
	}

	// Settle: every chaos call and connection must go away.
	var st chaosStatsView
	chaosPoll(t, 20*time.Second, "the server to settle to the victim's session alone", func() (bool, string) {
		st = chaosStats(t, tp)
		return st.ok(), st.String()
	})
	after := chaosScrape(t, tp, metrics)
	chaosReportDrops(t, before, after)
	d := func(k string) float64 { return after[k] - before[k] }
	wrongPeer, unknown, malformed := d(`pptp_drops_total{reason="wrong_peer"}`), d(`pptp_drops_total{reason="unknown_call"}`), d(`pptp_drops_total{reason="malformed"}`)
	targeted := float64(run.st.get("spray/victim"))
	if wrongPeer < targeted || wrongPeer > targeted+float64(run.st.get("spray/blind")+run.st.sum("gre/")) {
		t.Errorf("wrong_peer drops rose by %v; %v packets for the victim's call came from the attacker", wrongPeer, targeted)
	}
	if unknown == 0 || unknown > float64(run.st.get("spray/blind")+run.st.sum("gre/")) {
		t.Errorf("unknown_call drops rose by %v for %d blindly sprayed packets", unknown, run.st.get("spray/blind"))
	}
	if d := d(`pptp_drops_total{reason="truncated"}`); d < float64(run.st.get("truncating/gre")) {
		t.Errorf("truncated drops rose by %v for %d GRE packets larger than the receive buffer", d, run.st.get("truncating/gre"))
	}
	if malformed < float64(run.st.get("spray/malformed")) {
		t.Errorf("malformed drops rose by %v for %d malformed GRE packets sent", malformed, run.st.get("spray/malformed"))
	}

	// The victim is the same session, untouched.
	chaosCheckVictim(t, tp, srv, vs.ID, vs.PeerCallID, vs.Dropped, vs.Lost, downRE)

	// Goroutines and descriptors back to the baseline.
	now := chaosSettle(t, tp, srv, metrics, base)
	t.Logf("after the chaos: %v (baseline %v)", now, base)

	// Exact accounting on a quiet server.
	chaosProbe(t, tp, atk, metrics, vs.ID)
	chaosCheckVictim(t, tp, srv, vs.ID, vs.PeerCallID, vs.Dropped, vs.Lost, downRE)

	// The pool, the Call IDs and the session slots all came back: fill
	// every free slot with real users, the first promptly.
	free := chaosStats(t, tp).max - 1
	var extra []*client
	for i := range free {
		start := time.Now()
		c := tp.startClient(t, fmt.Sprintf("ppp%d", i+1), "name", user, "password", password)
		if i == 0 {
			t.Logf("new client connected in %v", time.Since(start).Round(time.Millisecond))
			if time.Since(start) > 5*time.Second {
				t.Errorf("a new client took %v to connect after the chaos", time.Since(start))
			}
		}
		if c.local == netip.MustParseAddr(vs.Remote) {
			t.Errorf("new client got the victim's address %s", c.local)
		}
		extra = append(extra, c)
	}
	ss = tp.sessions(t)
	if len(ss) != free+1 {
		t.Errorf("%d sessions with the pool full, want %d: %+v", len(ss), free+1, ss)
	}
	netns.TransferTCP(t, tp.cli, tp.lan, lanHost.Addr(), 4<<20)
	netns.TransferTCP(t, tp.lan, tp.cli, victim.local, 4<<20)
	for _, c := range extra {
		c.stop(t)
	}
	chaosPoll(t, 10*time.Second, "the extra clients' sessions to end", func() (bool, string) {
		st = chaosStats(t, tp)
		return st.ok(), st.String()
	})
	now = chaosSettle(t, tp, srv, metrics, base)
	t.Logf("at the end: %v (baseline %v)", now, base)
	chaosCheckVictim(t, tp, srv, vs.ID, vs.PeerCallID, vs.Dropped, vs.Lost, downRE)

	out := srv.Output()
	if strings.Contains(out, "panic") || strings.Contains(out, "fatal error") {
		t.Errorf("server output mentions a panic:\n%s", chaosTail(out, 100))
	}
	if errs := regexp.MustCompile(`(?m)^.*level=ERROR.*$`).FindAllString(out, 20); len(errs) > 0 {
		t.Errorf("server logged errors:\n%s", strings.Join(errs, "\n"))
	}
	if strings.Contains(victim.p.Output(), "level=ERROR") {
		t.Errorf("victim logged errors:\n%s", victim.p.Output())
	}
	victim.stop(t)
	srv.WaitFor(t, downRE, 5*time.Second)
}

func chaosEnvUint(t *testing.T, name string, def uint64) uint64 {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.ParseUint(s, 0, 64)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return n
}

// chaosCheckVictim checks that the victim's session is still up under the
// same Call IDs, carries traffic, and that none of the attacker's packets
// reached its GRE or PPP state (no drops or loss it did not have before).
func chaosCheckVictim(t *testing.T, tp *topo, srv *netns.Process, id, peerID uint16, dropped, lost uint64, downRE *regexp.Regexp) {
	t.Helper()
	if srv.Count(downRE) != 0 {
		t.Fatalf("the victim's session went down:\n%s", chaosGrep(srv.Output(), downRE))
	}
	var vs *control.Session
	for _, s := range tp.sessions(t) {
		if s.ID == id {
			vs = &s
		}
	}
	if vs == nil {
		t.Fatalf("victim's session %d is gone: %+v", id, tp.sessions(t))
	}
	if vs.PeerCallID != peerID || vs.State != "up" || vs.User != user || vs.Peer != cliUnder.Addr().String() {
		t.Errorf("victim's session changed: %+v", *vs)
	}
	if vs.Dropped != dropped || vs.Lost != lost {
		t.Errorf("victim's session: %d packets dropped and %d lost, %d and %d before: attacker packets reached it",
			vs.Dropped, vs.Lost, dropped, lost)
	}
	netns.Ping(t, tp.cli, lanHost.Addr(), 3, 5*time.Second)
	netns.Ping(t, tp.lan, netip.MustParseAddr(vs.Remote), 2, 5*time.Second)
}

// chaosStatsView is what pptpctl and the sessions list say about the
// server's sessions.
type chaosStatsView struct {
	sessions, negotiating, max, listed, listedUp int
}

func chaosStats(t *testing.T, tp *topo) chaosStatsView {
	st := tp.stats(t)
	v := chaosStatsView{sessions: st.Sessions, negotiating: st.Negotiating, max: st.MaxSessions}
	for _, s := range tp.sessions(t) {
		v.listed++
		if s.State == "up" {
			v.listedUp++
		}
	}
	return v
}

// ok: the victim alone, and the counts agree with the list.
func (v chaosStatsView) ok() bool {
	return v.sessions == 1 && v.negotiating == 0 && v.listed == 1 && v.listedUp == 1
}

func (v chaosStatsView) String() string {
	return fmt.Sprintf("stats: %d up, %d negotiating (max %d); list: %d sessions, %d up", v.sessions, v.negotiating, v.max, v.listed, v.listedUp)
}

// chaosCounts are the server process's goroutines and descriptors.
type chaosCounts struct {
	goroutines int // go_goroutines
	openFDs    int // process_open_fds
	procFDs    int // entries of /proc/PID/fd, counted by the test
}

func (c chaosCounts) String() string {
	return fmt.Sprintf("%d goroutines, %d open fds (metrics), %d fds (/proc)", c.goroutines, c.openFDs, c.procFDs)
}

func (c chaosCounts) within(base chaosCounts) bool {
	return c.goroutines <= base.goroutines+chaosGoroutineSlack && c.openFDs <= base.openFDs+chaosFDSlack &&
		c.procFDs <= base.procFDs+chaosFDSlack
}

// chaosMeasure takes the lowest of three readings: Prometheus gathers
// with goroutines of its own, so go_goroutines jitters by a few from one
// scrape to the next.
func chaosMeasure(t *testing.T, tp *topo, metrics string, pid int) chaosCounts {
	t.Helper()
	var c chaosCounts
	for i := range 3 {
		// /proc first: the scrape's own connection would add one.
		ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		if err != nil {
			t.Fatalf("server's descriptors: %v", err)
		}
		m := chaosScrape(t, tp, metrics)
		r := chaosCounts{goroutines: int(m["go_goroutines"]), openFDs: int(m["process_open_fds"]), procFDs: len(ents)}
		if i == 0 {
			c = r
		}
		c = chaosCounts{min(c.goroutines, r.goroutines), min(c.openFDs, r.openFDs), min(c.procFDs, r.procFDs)}
	}
	return c
}

// chaosSettle waits up to 15 s for the server's goroutines and
// descriptors to come back to base. If they do not, the server's
// goroutines are dumped (SIGQUIT) and its descriptors listed, to show
// what leaked.
func chaosSettle(t *testing.T, tp *topo, srv *netns.Process, metrics string, base chaosCounts) chaosCounts {
	t.Helper()
	var now chaosCounts
	deadline := time.Now().Add(15 * time.Second)
	for {
		now = chaosMeasure(t, tp, metrics, srv.Pid())
		if now.within(base) {
			return now
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	var fds []string
	if ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", srv.Pid())); err == nil {
		for _, e := range ents {
			l, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", srv.Pid(), e.Name()))
			fds = append(fds, e.Name()+" -> "+l)
		}
	}
	n := len(srv.Output())
	srv.Signal(syscall.SIGQUIT)
	srv.Wait(5 * time.Second)
	t.Fatalf("goroutines or descriptors leaked: baseline %v, now %v\ndescriptors:\n%s\ngoroutines:\n%s",
		base, now, strings.Join(fds, "\n"), srv.Output()[n:])
	return now
}

// chaosBaseline measures a few times and keeps the lowest of each count,
// so that a timer or a closing connection does not inflate the baseline.
func chaosBaseline(t *testing.T, tp *topo, metrics string, pid int) chaosCounts {
	t.Helper()
	time.Sleep(500 * time.Millisecond)
	b := chaosMeasure(t, tp, metrics, pid)
	for range 2 {
		time.Sleep(250 * time.Millisecond)
		m := chaosMeasure(t, tp, metrics, pid)
		b = chaosCounts{min(b.goroutines, m.goroutines), min(b.openFDs, m.openFDs), min(b.procFDs, m.procFDs)}
	}
	return b
}

// chaosScrape reads the metrics like tp.scrape, but without keeping the
// connection alive: an idle keep-alive connection per scrape would hold a
// goroutine and a descriptor in the server and spoil the leak check.
func chaosScrape(t *testing.T, tp *topo, addr string) map[string]float64 {
	t.Helper()
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(_ context.Context, network, a string) (net.Conn, error) {
			ap, err := netip.ParseAddrPort(a)
			if err != nil {
				return nil, err
			}
			return dialFrom(tp.srv, ap)
		},
	}}
	resp, err := hc.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("metrics: %s", resp.Status)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	m := map[string]float64{}
	for _, line := range strings.Split(string(body), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		m[line[:i]] = v
	}
	return m
}

func chaosReportDrops(t *testing.T, before, after map[string]float64) {
	t.Helper()
	var keys []string
	for k := range after {
		if strings.HasPrefix(k, "pptp_drops_total") || strings.HasPrefix(k, "pptp_refused_total") ||
			strings.HasPrefix(k, "pptp_gre_sequence_total") || strings.HasPrefix(k, "pptp_logins_total") ||
			k == "pptp_control_connections_total" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "\n  %-60s %10.0f -> %10.0f", k, before[k], after[k])
	}
	t.Logf("server counters before -> after the chaos:%s", b.String())
}

// chaosPoll calls cond until it holds, failing the test after timeout with
// cond's last description.
func chaosPoll(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, desc := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s: %s", timeout, what, desc)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// chaosRTTs summarises round-trip times (zero: no reply).
func chaosRTTs(rtts []time.Duration) string {
	var got []time.Duration
	for _, d := range rtts {
		if d > 0 {
			got = append(got, d)
		}
	}
	if len(got) == 0 {
		return "none"
	}
	slices.Sort(got)
	r := func(d time.Duration) time.Duration { return d.Round(10 * time.Microsecond) }
	return fmt.Sprintf("min/median/p90/max %v/%v/%v/%v", r(got[0]), r(got[len(got)/2]), r(got[len(got)*9/10]), r(got[len(got)-1]))
}

func chaosTail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func chaosGrep(s string, re *regexp.Regexp) string {
	return strings.Join(re.FindAllString(s, 20), "\n")
}

// chaosTally counts what the chaos did, by kind.
type chaosTally struct {
	mu sync.Mutex
	m  map[string]int
}

func (c *chaosTally) add(k string, n int) {
	c.mu.Lock()
	if c.m == nil {
		c.m = map[string]int{}
	}
	c.m[k] += n
	c.mu.Unlock()
}

func (c *chaosTally) get(k string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[k]
}

func (c *chaosTally) sum(prefix string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for k, v := range c.m {
		if strings.HasPrefix(k, prefix) {
			n += v
		}
	}
	return n
}

func (c *chaosTally) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	keys := make([]string, 0, len(c.m))
	for k := range c.m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	groups := map[string]int{}
	for _, k := range keys {
		g, _, _ := strings.Cut(k, "/")
		groups[g] += c.m[k]
	}
	fmt.Fprintf(&b, "%d connections, %d control messages (%d raw fragments), %d GRE packets from chaos calls, %d sprayed",
		c.m["conn/dialed"], groups["ctl"], c.m["raw/fragments"], groups["gre"], groups["spray"])
	for _, k := range keys {
		fmt.Fprintf(&b, "\n  %-32s %7d", k, c.m[k])
	}
	return b.String()
}

// chaosRun is one run of chaos workers and GRE sprayers from the attacker
// host.
type chaosRun struct {
	t        *testing.T
	atk      *netns.Host
	seed     uint64
	workers  int
	target   netip.AddrPort
	srvIP    *net.IPAddr
	gre      *net.IPConn
	deadline time.Time
	victimID uint16 // the server's Call ID of the victim
	victimPC uint16 // the victim's own Call ID
	inbox    []chan chaosGRE
	st       *chaosTally
	wg       sync.WaitGroup
	rxDone   chan struct{}
}

// chaosGRE is a GRE packet the server sent one of the chaos calls.
type chaosGRE struct {
	h     gre.Header
	proto ppp.Protocol
	pkt   ppp.Packet
	ctl   bool // pkt is a parsed control packet
}

func newChaosRun(t *testing.T, atk *netns.Host, seed uint64, workers int, victimID, victimPC uint16, deadline time.Time) *chaosRun {
	r := &chaosRun{t: t, atk: atk, seed: seed, workers: workers, deadline: deadline,
		target: netip.AddrPortFrom(chaosSrvAtk.Addr(), pptp.Port), srvIP: &net.IPAddr{IP: chaosSrvAtk.Addr().AsSlice()},
		victimID: victimID, victimPC: victimPC, st: &chaosTally{}, rxDone: make(chan struct{})}
	r.gre = chaosGRESocket(t, atk)
	for range workers {
		r.inbox = append(r.inbox, make(chan chaosGRE, 64))
	}
	return r
}

// chaosGRESocket opens a raw GRE socket on the attacker's address: what
// it sends leaves from there with an IPv4 header the kernel adds.
func chaosGRESocket(t *testing.T, atk *netns.Host) *net.IPConn {
	pc := atk.ListenPacket(t, "ip4:gre", chaosAtkAddr.Addr().String())
	return pc.(*net.IPConn)
}

func (r *chaosRun) start() {
	go r.receiveGRE()
	for i := range r.workers {
		w := &chaosWorker{r: r, id: i, rng: rand.New(rand.NewPCG(r.seed, uint64(i))), inbox: r.inbox[i]}
		r.wg.Go(w.run)
	}
	r.wg.Go(func() { r.spray(rand.New(rand.NewPCG(r.seed, 1000))) })
}

func (r *chaosRun) wait() {
	r.wg.Wait()
	r.gre.Close()
	<-r.rxDone
}

// receiveGRE hands the GRE packets the server sends to chaos calls to the
// worker whose Call ID they carry.
func (r *chaosRun) receiveGRE() {
	defer close(r.rxDone)
	buf := make([]byte, 65536)
	for {
		n, _, err := r.gre.ReadFrom(buf)
		if err != nil {
			return
		}
		h, payload, err := gre.Parse(buf[:n])
		if err != nil {
			r.st.add("rx/gre-malformed", 1)
			continue
		}
		r.st.add("rx/gre", 1)
		w := int(h.CallID>>11) - 1
		if w < 0 || w >= len(r.inbox) {
			continue
		}
		g := chaosGRE{h: h}
		if h.HasSeq {
			proto, info, err := ppp.ParseFrame(payload)
			if err == nil {
				g.proto = proto
				if pkt, err := ppp.ParsePacket(info); err == nil && proto != ppp.ProtoMPPE && proto != ppp.ProtoIPv4 {
					g.pkt = ppp.Packet{Code: pkt.Code, ID: pkt.ID, Data: append([]byte(nil), pkt.Data...)}
					g.ctl = true
				}
			}
		}
		select {
		case r.inbox[w] <- g:
		default:
		}
	}
}

func (r *chaosRun) sendGRE(b []byte) {
	if _, err := r.gre.WriteTo(b, r.srvIP); err != nil {
		r.st.add("send-error/gre", 1)
	}
	if len(b)+20 > 4096 { // the server's receive buffer (datapath.rxBufSize)
		r.st.add("truncating/gre", 1)
	}
}

// spray sends GRE the server must drop before any call sees it: random
// Call IDs, the victim's Call ID from the wrong address, and malformed
// headers.
func (r *chaosRun) spray(rng *rand.Rand) {
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for time.Now().Before(r.deadline) {
		<-tick.C
		switch x := rng.IntN(10); {
		case x < 4:
			id := uint16(rng.Uint32())
			if id == r.victimID {
				r.st.add("spray/blind-hit-victim", 1)
			}
			r.sendGRE(chaosGREPacket(rng, id, rng.Uint32(), chaosPPPFrame(rng, nil)))
			r.st.add("spray/blind", 1)
		case x < 8:
			// The worst case: the attacker knows the victim's Call ID
			// but cannot send from the victim's address.
			r.sendGRE(chaosGREPacket(rng, r.victimID, chaosSeqFor(rng), chaosPPPFrame(rng, nil)))
			r.st.add("spray/victim", 1)
		default:
			id := uint16(rng.Uint32())
			if rng.IntN(2) == 0 {
				id = r.victimID
			}
			r.sendGRE(chaosMalformedGRE(rng, id))
			r.st.add("spray/malformed", 1)
		}
	}
}

// chaosSeqFor picks sequence numbers an attacker might try: small, huge,
// just behind or far ahead of wherever the victim may be.
func chaosSeqFor(rng *rand.Rand) uint32 {
	switch rng.IntN(4) {
	case 0:
		return uint32(rng.IntN(100))
	case 1:
		return 1<<31 + uint32(rng.IntN(1000))
	case 2:
		return ^uint32(0) - uint32(rng.IntN(1000))
	}
	return rng.Uint32()
}

// chaosGREPacket is an enhanced GRE packet carrying frame, with a random
// acknowledgement now and then; an empty frame makes it ack-only.
func chaosGREPacket(rng *rand.Rand, callID uint16, seq uint32, frame []byte) []byte {
	h := gre.Header{CallID: callID, PayloadLen: uint16(len(frame)), HasSeq: len(frame) > 0, Seq: seq}
	if rng.IntN(3) == 0 || len(frame) == 0 {
		h.HasAck, h.Ack = true, rng.Uint32()
	}
	return append(h.Append(nil), frame...)
}

// chaosMalformedGRE is a GRE packet the server's parser must refuse.
func chaosMalformedGRE(rng *rand.Rand, callID uint16) []byte {
	g := gre.Header{CallID: callID, HasSeq: true, Seq: rng.Uint32(), PayloadLen: 4}.Append(nil)
	g = append(g, 0xff, 0x03, 0xc0, 0x21)
	switch rng.IntN(8) {
	case 0: // version 0: plain GRE
		g[1] &^= 0x07
	case 1: // version 2
		g[1] = g[1]&^0x07 | 2
	case 2: // no key
		g[0] &^= 0x20
	case 3: // protocol not PPP
		binary.BigEndian.PutUint16(g[2:], 0x0800)
	case 4: // checksum, routing or recursion bits
		g[0] |= []byte{0x80, 0x40, 0x08, 0x01}[rng.IntN(4)]
	case 5: // payload length beyond the packet
		binary.BigEndian.PutUint16(g[4:], uint16(5+rng.IntN(60000)))
	case 6: // shorter than the header
		g = g[:rng.IntN(gre.MinHeaderLen)]
	case 7: // payload without a sequence number
		g[0] &^= 0x10
		g = append(g[:8], 0xff, 0x03, 0xc0, 0x21)
		binary.BigEndian.PutUint16(g[4:], 4)
	}
	return g
}

// chaosPPPFrame is a random PPP frame, valid or not. last, when set, is a
// Configure-Request of the server's to answer.
func chaosPPPFrame(rng *rand.Rand, last *ppp.Packet) []byte {
	pkt := func(p ppp.Protocol, code ppp.Code, data []byte) []byte {
		return ppp.AppendFrame(nil, p, ppp.Packet{Code: code, ID: uint8(rng.Uint32()), Data: data}.Append(nil))
	}
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	switch rng.IntN(20) {
	case 0:
		if last != nil {
			return ppp.AppendFrame(nil, ppp.ProtoLCP, ppp.Packet{Code: ppp.ConfAck, ID: last.ID, Data: last.Data}.Append(nil))
		}
		return pkt(ppp.ProtoLCP, ppp.ConfAck, random(rng.IntN(20)))
	case 1: // an empty Configure-Request: acceptable, opens LCP
		return pkt(ppp.ProtoLCP, ppp.ConfReq, nil)
	case 2: // options with random types and lengths
		var o []byte
		for range rng.IntN(5) {
			o = ppp.AppendOption(o, uint8(rng.IntN(32)), random(rng.IntN(6))...)
		}
		if rng.IntN(3) == 0 && len(o) > 0 {
			o[1] = uint8(rng.IntN(256)) // a broken option length
		}
		return pkt(ppp.ProtoLCP, ppp.ConfReq, o)
	case 3:
		return pkt(ppp.ProtoLCP, ppp.TermReq, []byte("chaos"))
	case 4:
		return pkt(ppp.ProtoLCP, ppp.EchoReq, random(4+rng.IntN(8)))
	case 5:
		return pkt(ppp.ProtoLCP, ppp.Code(rng.IntN(256)), random(rng.IntN(40)))
	case 6: // a packet whose length field lies
		f := pkt(ppp.ProtoLCP, ppp.Code(1+rng.IntN(12)), random(rng.IntN(10)))
		binary.BigEndian.PutUint16(f[6:], uint16(rng.IntN(1<<16)))
		return f
	case 7: // an MS-CHAP-v2 Response of garbage
		v := append([]byte{49}, random(49)...)
		return pkt(ppp.ProtoCHAP, 2, append(v, "alice"...))
	case 8:
		return pkt(ppp.ProtoCHAP, ppp.Code(rng.IntN(8)), random(rng.IntN(80)))
	case 9:
		return pkt(ppp.ProtoPAP, 1, append([]byte{5}, "alice\x05guess"...))
	case 10:
		return pkt(ppp.ProtoCCP, ppp.ResetReq, nil)
	case 11:
		return pkt(ppp.ProtoCCP, ppp.ConfReq, ppp.AppendOption(nil, 18, 0x01, 0, 0, 0x40))
	case 12:
		return pkt(ppp.ProtoIPCP, ppp.ConfReq, ppp.AppendOption(nil, 3, 0, 0, 0, 0))
	case 13:
		return pkt(ppp.ProtoIPCP, ppp.Code(rng.IntN(16)), random(rng.IntN(20)))
	case 14: // MPPE garbage
		return ppp.AppendFrame(nil, ppp.ProtoMPPE, random(2+rng.IntN(100)))
	case 15: // plain IP, spoofed
		ip := random(20 + rng.IntN(60))
		ip[0] = 0x45
		binary.BigEndian.PutUint16(ip[2:], uint16(len(ip)))
		copy(ip[12:], tunLocal.AsSlice())
		return ppp.AppendFrame(nil, ppp.ProtoIPv4, ip)
	case 16: // a protocol nobody speaks
		return ppp.AppendFrame(nil, ppp.Protocol(0x8000|uint16(rng.IntN(0x7fff))|1), random(rng.IntN(30)))
	case 17: // a malformed protocol field
		return []byte{0xff, 0x03, byte(rng.Uint32()), byte(rng.Uint32()) &^ 1}
	case 18: // address/control not FF 03, or a frame of one byte
		if rng.IntN(2) == 0 {
			return []byte{0xff, 0x05, 0xc0, 0x21}
		}
		return []byte{0x01}
	}
	// compressed address/control and protocol
	return append([]byte{0x21}, random(20)...)
}

// chaosWorker does random walks over the protocol, one connection at a
// time.
type chaosWorker struct {
	r     *chaosRun
	id    int
	rng   *rand.Rand
	inbox chan chaosGRE
	n     uint16
}

// callID returns a fresh Call ID of this worker's: the top five bits name
// the worker, so that receiveGRE can route the server's packets.
func (w *chaosWorker) callID() uint16 {
	w.n++
	return uint16(w.id+1)<<11 | w.n&0x7ff
}

func (w *chaosWorker) sleep(max time.Duration) {
	time.Sleep(time.Duration(w.rng.Int64N(int64(max) + 1)))
}

func (w *chaosWorker) live() bool { return time.Now().Before(w.r.deadline) }

func (w *chaosWorker) run() {
	for w.live() {
		switch x := w.rng.IntN(100); {
		case x < 60:
			w.walk()
		case x < 70:
			w.slowStart()
		case x < 80:
			w.badStart()
		case x < 88:
			w.dialAndDrop()
		default:
			w.greBurst()
		}
	}
}

// chaosConn is one control connection of a worker, with a goroutine that
// reads and parses what the server sends.
type chaosConn struct {
	w    *chaosWorker
	nc   *net.TCPConn
	msgs chan pptp.Message
	dead chan struct{}
}

func (w *chaosWorker) dial() *chaosConn {
	nc, err := dialFrom(w.r.atk, w.r.target)
	if err != nil {
		w.r.st.add("conn/dial-failed", 1)
		return nil
	}
	w.r.st.add("conn/dialed", 1)
	c := &chaosConn{w: w, nc: nc.(*net.TCPConn), msgs: make(chan pptp.Message, 32), dead: make(chan struct{})}
	go c.read()
	return c
}

func (c *chaosConn) read() {
	defer close(c.dead)
	rd := pptp.NewReader(c.nc)
	for {
		m, _, err := rd.ReadMessage()
		if err != nil {
			if pptp.Recoverable(err) {
				continue
			}
			return
		}
		c.w.r.st.add("rx/"+m.Type().String(), 1)
		select {
		case c.msgs <- m:
		default:
		}
	}
}

// await returns the first message from the server that match accepts,
// or nil after timeout or when the server closed the connection.
func (c *chaosConn) await(match func(pptp.Message) bool, timeout time.Duration) pptp.Message {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case m := <-c.msgs:
			if match(m) {
				return m
			}
		case <-c.dead:
			return nil
		case <-t.C:
			return nil
		}
	}
}

func (c *chaosConn) closed() bool {
	select {
	case <-c.dead:
		return true
	default:
		return false
	}
}

func chaosIsType(t pptp.MessageType) func(pptp.Message) bool {
	return func(m pptp.Message) bool { return m.Type() == t }
}

// send writes b as one control message of the given kind.
func (c *chaosConn) send(kind string, b []byte) bool {
	c.w.r.st.add("ctl/"+kind, 1)
	return c.write(b)
}

func (c *chaosConn) write(b []byte) bool {
	c.nc.SetWriteDeadline(time.Now().Add(2 * time.Second))
	_, err := c.nc.Write(b)
	return err == nil
}

// trickle writes b in small pieces with pauses, as a slowloris would.
func (c *chaosConn) trickle(kind string, b []byte, pause time.Duration) bool {
	c.w.r.st.add("ctl/"+kind, 1)
	for len(b) > 0 {
		n := min(len(b), 1+c.w.rng.IntN(16))
		c.w.r.st.add("raw/fragments", 1)
		if !c.write(b[:n]) {
			return false
		}
		b = b[n:]
		if len(b) > 0 {
			c.w.sleep(pause)
		}
	}
	return true
}

// close ends the connection in one of three ways: a close, a reset, or a
// half-close that lets the server finish first.
func (c *chaosConn) close() {
	switch c.w.rng.IntN(4) {
	case 0:
		c.nc.SetLinger(0) // RST
		c.w.r.st.add("conn/reset", 1)
	case 1:
		c.nc.CloseWrite()
		select {
		case <-c.dead:
		case <-time.After(time.Second):
		}
	}
	c.nc.Close()
	<-c.dead
}

func chaosSCCRQ(version uint16) []byte {
	return pptp.Marshal(&pptp.StartCtrlConnRequest{ProtocolVersion: version, FramingCaps: pptp.FramingAny,
		BearerCaps: pptp.BearerAny, FirmwareRevision: 1, HostName: "chaos", VendorName: "chaos"})
}

// chaosRaw builds a control message header by hand, for the invalid ones.
func chaosRaw(length, msgType uint16, cookie uint32, ctlType, reserved uint16, size int) []byte {
	b := make([]byte, max(size, 12))
	binary.BigEndian.PutUint16(b[0:], length)
	binary.BigEndian.PutUint16(b[2:], msgType)
	binary.BigEndian.PutUint32(b[4:], cookie)
	binary.BigEndian.PutUint16(b[8:], ctlType)
	binary.BigEndian.PutUint16(b[10:], reserved)
	return b[:size]
}

// dialAndDrop connects and leaves at once, sometimes with a reset.
func (w *chaosWorker) dialAndDrop() {
	c := w.dial()
	if c == nil {
		return
	}
	if w.rng.IntN(2) == 0 {
		c.nc.SetLinger(0)
	}
	c.nc.Close()
	<-c.dead
}

// slowStart holds a connection that is slow to start or never does.
func (w *chaosWorker) slowStart() {
	c := w.dial()
	if c == nil {
		return
	}
	defer c.close()
	sccrq := chaosSCCRQ(pptp.ProtocolVersion)
	switch w.rng.IntN(3) {
	case 0: // silent until the server's stimeout or our patience ends
		select {
		case <-c.dead:
			w.r.st.add("conn/closed-by-stimeout", 1)
		case <-time.After(time.Duration(1+w.rng.IntN(4)) * time.Second):
		}
	case 1: // half the request, then nothing
		c.write(sccrq[:w.rng.IntN(len(sccrq))])
		w.r.st.add("ctl/half-written-sccrq", 1)
		select {
		case <-c.dead:
			w.r.st.add("conn/closed-by-stimeout", 1)
		case <-time.After(time.Duration(1+w.rng.IntN(4)) * time.Second):
		}
	default: // the request a few bytes at a time, then a walk
		if c.trickle("SCCRQ-trickled", sccrq, 150*time.Millisecond) && c.await(chaosIsType(pptp.TypeStartCtrlConnReply), 3*time.Second) != nil {
			w.steps(c)
		}
	}
}

// badStart opens with something other than a good
// Start-Control-Connection-Request; the server must answer what it can
// and close.
func (w *chaosWorker) badStart() {
	c := w.dial()
	if c == nil {
		return
	}
	defer c.close()
	kinds := []struct {
		name string
		b    []byte
	}{
		{"bad-cookie", chaosRaw(156, 1, 0xdeadbeef, 1, 0, 156)},
		{"zero-length", chaosRaw(0, 1, pptp.MagicCookie, 1, 0, 12)},
		{"length-below-header", chaosRaw(5, 1, pptp.MagicCookie, 1, 0, 12)},
		{"length-above-max", chaosRaw(65535, 1, pptp.MagicCookie, 1, 0, 200)},
		{"wrong-length-sccrq", chaosRaw(40, 1, pptp.MagicCookie, 1, 0, 40)},
		{"unknown-type", chaosRaw(16, 1, pptp.MagicCookie, 99, 0, 16)},
		{"ocrq-before-start", pptp.Marshal(&pptp.OutgoingCallRequest{CallID: w.callID(), MaxBPS: 1e6, RecvWindowSize: 64})},
		{"echo-before-start", pptp.Marshal(&pptp.EchoRequest{Identifier: w.rng.Uint32()})},
		{"stop-before-start", pptp.Marshal(&pptp.StopCtrlConnRequest{Reason: pptp.StopNone})},
		{"sccrq-version-2", chaosSCCRQ(0x0200)},
		{"http", []byte("GET / HTTP/1.0\r\n\r\n")},
		{"truncated-sccrq", chaosSCCRQ(pptp.ProtocolVersion)[:12+w.rng.IntN(140)]},
	}
	k := kinds[w.rng.IntN(len(kinds))]
	c.send("bad-start/"+k.name, k.b)
	if strings.HasPrefix(k.name, "truncated") || k.name == "echo-before-start" {
		w.sleep(time.Second)
		return
	}
	select {
	case <-c.dead:
	case <-time.After(4 * time.Second):
		w.r.st.add("bad-start-kept-open/"+k.name, 1)
	}
}

// walk starts a control connection properly and then does random steps.
func (w *chaosWorker) walk() {
	c := w.dial()
	if c == nil {
		return
	}
	defer c.close()
	if !c.send("SCCRQ", chaosSCCRQ(pptp.ProtocolVersion)) {
		return
	}
	if c.await(chaosIsType(pptp.TypeStartCtrlConnReply), 3*time.Second) == nil {
		w.r.st.add("conn/no-sccrp", 1)
		return
	}
	w.steps(c)
}

// chaosCall is a worker's call on the server.
type chaosCall struct {
	our, srv uint16
	seq      uint32
	last     *ppp.Packet // the server's last Configure-Request
	rxSeq    uint32
	rxAny    bool
}

func (w *chaosWorker) steps(c *chaosConn) {
	var call *chaosCall
	// Drain packets for calls of earlier connections.
	for len(w.inbox) > 0 {
		<-w.inbox
	}
	n := 5 + w.rng.IntN(40)
	for i := 0; i < n && w.live() && !c.closed(); i++ {
		if !w.step(c, &call) {
			return
		}
		w.sleep(40 * time.Millisecond)
	}
}

// step does one random thing on an established control connection; false
// ends the connection.
func (w *chaosWorker) step(c *chaosConn, callp **chaosCall) bool {
	r := w.r
	call := *callp
	x := w.rng.IntN(100)
	switch {
	case x < 10: // a call
		id := w.callID()
		win := []uint16{0, 1, 3, 64, 16384, 65535}[w.rng.IntN(6)]
		if !c.send("OCRQ", pptp.Marshal(&pptp.OutgoingCallRequest{CallID: id, CallSerialNumber: uint16(w.rng.Uint32()),
			MinBPS: 2400, MaxBPS: 1e7, BearerType: pptp.BearerAny, FramingType: pptp.FramingAny, RecvWindowSize: win})) {
			return false
		}
		m := c.await(func(m pptp.Message) bool {
			rp, ok := m.(*pptp.OutgoingCallReply)
			return ok && rp.PeerCallID == id
		}, 2*time.Second)
		if m == nil {
			return !c.closed()
		}
		rp := m.(*pptp.OutgoingCallReply)
		if rp.Result != pptp.OutgoingConnected {
			r.st.add("ocrp/"+rp.Result.String(), 1)
			return true
		}
		r.st.add("ocrp/Connected", 1)
		*callp = &chaosCall{our: id, srv: rp.CallID, seq: w.rng.Uint32()}
	case x < 32: // PPP over GRE for our call
		if call == nil {
			return c.send("ECHORQ", pptp.Marshal(&pptp.EchoRequest{Identifier: w.rng.Uint32()}))
		}
		w.ppp(call)
	case x < 38: // clear a call: ours, or somebody else's
		id := uint16(w.rng.Uint32())
		switch w.rng.IntN(4) {
		case 0, 1:
			if call != nil {
				id = call.our
			}
		case 2:
			id = r.victimPC
		}
		if !c.send("CCRQ", pptp.Marshal(&pptp.CallClearRequest{CallID: id})) {
			return false
		}
		if call != nil && id == call.our {
			if c.await(chaosIsType(pptp.TypeCallDisconnectNotify), 2*time.Second) != nil {
				r.st.add("cleared", 1)
			}
			*callp = nil
		}
	case x < 44:
		if !c.send("ECHORQ", pptp.Marshal(&pptp.EchoRequest{Identifier: w.rng.Uint32()})) {
			return false
		}
		c.await(chaosIsType(pptp.TypeEchoReply), 500*time.Millisecond)
	case x < 49: // Set-Link-Info, for our call or another
		id := []uint16{r.victimID, r.victimPC, uint16(w.rng.Uint32())}[w.rng.IntN(3)]
		if call != nil && w.rng.IntN(2) == 0 {
			id = call.srv
		}
		return c.send("SLI", pptp.Marshal(&pptp.SetLinkInfo{PeerCallID: id, SendACCM: w.rng.Uint32(), RecvACCM: w.rng.Uint32()}))
	case x < 55: // valid messages the server does not expect from us
		ids := []uint16{r.victimID, r.victimPC, uint16(w.rng.Uint32())}
		id := ids[w.rng.IntN(len(ids))]
		msgs := []pptp.Message{
			&pptp.WANErrorNotify{PeerCallID: id, CRCErrors: 1},
			&pptp.CallDisconnectNotify{CallID: id, Result: pptp.DisconnectRequest},
			&pptp.IncomingCallReply{CallID: id, PeerCallID: id, Result: pptp.IncomingConnect},
			&pptp.StartCtrlConnReply{ProtocolVersion: pptp.ProtocolVersion, Result: pptp.StartSuccess},
			&pptp.StopCtrlConnReply{Result: pptp.StopOK},
			&pptp.OutgoingCallReply{CallID: id, PeerCallID: id, Result: pptp.OutgoingConnected},
			&pptp.EchoReply{Identifier: w.rng.Uint32(), Result: pptp.EchoOK},
			&pptp.StartCtrlConnRequest{ProtocolVersion: pptp.ProtocolVersion},
			&pptp.IncomingCallConnected{PeerCallID: id, RecvWindowSize: 64},
		}
		m := msgs[w.rng.IntN(len(msgs))]
		return c.send(m.Type().String()+"-unexpected", pptp.Marshal(m))
	case x < 59: // an incoming call, as a LAC would place it
		id := w.callID()
		if !c.send("ICRQ", pptp.Marshal(&pptp.IncomingCallRequest{CallID: id, BearerType: pptp.BearerAnalog, DialedNumber: "1", DialingNumber: "2"})) {
			return false
		}
		m := c.await(func(m pptp.Message) bool {
			rp, ok := m.(*pptp.IncomingCallReply)
			return ok && rp.PeerCallID == id
		}, 2*time.Second)
		if m == nil {
			return !c.closed()
		}
		rp := m.(*pptp.IncomingCallReply)
		r.st.add("icrp/"+rp.Result.String(), 1)
		if rp.Result != pptp.IncomingConnect || w.rng.IntN(4) == 0 {
			return true // left pending, or refused
		}
		peer := rp.CallID
		if w.rng.IntN(5) == 0 {
			peer = r.victimID // connect somebody else's call
		}
		if !c.send("ICCN", pptp.Marshal(&pptp.IncomingCallConnected{PeerCallID: peer, ConnectSpeed: 1e6,
			RecvWindowSize: uint16(w.rng.IntN(100)), FramingType: pptp.FramingAsync})) {
			return false
		}
		if peer == rp.CallID && call == nil {
			*callp = &chaosCall{our: id, srv: rp.CallID, seq: w.rng.Uint32()}
		}
	case x < 68: // malformed messages after which the stream is still in sync
		var b []byte
		switch w.rng.IntN(5) {
		case 0:
			b = chaosRaw(16, 1, pptp.MagicCookie, uint16(16+w.rng.IntN(1000)), 0, 16)
		case 1: // a known type with the wrong length
			t := pptp.MessageType(1 + w.rng.IntN(15))
			n := t.Len() + 4
			b = chaosRaw(uint16(n), 1, pptp.MagicCookie, uint16(t), 0, n)
		case 2: // Reserved0 not zero
			b = pptp.Marshal(&pptp.EchoRequest{Identifier: 7})
			binary.BigEndian.PutUint16(b[10:], 1)
		case 3: // a management message
			b = pptp.Marshal(&pptp.EchoRequest{Identifier: 7})
			binary.BigEndian.PutUint16(b[2:], 2)
		case 4: // the largest message the reader takes
			b = chaosRaw(pptp.MaxMessageLen, 1, pptp.MagicCookie, 0xffff, 0, pptp.MaxMessageLen)
		}
		return c.send("recoverable-invalid", b)
	case x < 71: // messages after which the stream is lost
		var b []byte
		switch w.rng.IntN(4) {
		case 0:
			b = pptp.Marshal(&pptp.EchoRequest{Identifier: 1})
			binary.BigEndian.PutUint32(b[4:], w.rng.Uint32()|1)
		case 1:
			b = chaosRaw(0, 1, pptp.MagicCookie, 5, 0, 16)
		case 2:
			b = chaosRaw(uint16(pptp.MaxMessageLen+1+w.rng.IntN(60000)), 1, pptp.MagicCookie, 5, 0, 64)
		case 3:
			b = chaosRaw(uint16(w.rng.IntN(pptp.HeaderLen)), 1, pptp.MagicCookie, 5, 0, 16)
		}
		c.send("fatal-invalid", b)
		select {
		case <-c.dead:
		case <-time.After(3 * time.Second):
			r.st.add("fatal-kept-open", 1)
		}
		return false
	case x < 75: // half a message, a pause, then the rest
		m := pptp.Marshal(&pptp.EchoRequest{Identifier: w.rng.Uint32()})
		if w.rng.IntN(2) == 0 && call != nil {
			m = pptp.Marshal(&pptp.SetLinkInfo{PeerCallID: call.srv})
		}
		return c.trickle("trickled", m, 400*time.Millisecond)
	case x < 77: // half a message, then gone
		m := pptp.Marshal(&pptp.OutgoingCallRequest{CallID: w.callID(), RecvWindowSize: 64})
		c.send("truncated-then-close", m[:1+w.rng.IntN(len(m)-1)])
		return false
	case x < 79:
		c.send("StopCCRQ", pptp.Marshal(&pptp.StopCtrlConnRequest{Reason: pptp.StopNone}))
		c.await(chaosIsType(pptp.TypeStopCtrlConnReply), time.Second)
		return false
	case x < 81: // abrupt close
		return false
	case x < 86:
		w.sleep(500 * time.Millisecond)
	case x < 90: // the victim's Call ID from here: must be dropped as the wrong peer
		for range 1 + w.rng.IntN(5) {
			r.sendGRE(chaosGREPacket(w.rng, r.victimID, chaosSeqFor(w.rng), chaosPPPFrame(w.rng, nil)))
			r.st.add("spray/victim", 1)
		}
	default: // several messages in one segment
		var b []byte
		for range 2 + w.rng.IntN(6) {
			b = append(b, pptp.Marshal(&pptp.EchoRequest{Identifier: w.rng.Uint32()})...)
		}
		if call != nil {
			b = append(b, pptp.Marshal(&pptp.SetLinkInfo{PeerCallID: call.srv, SendACCM: ^uint32(0), RecvACCM: ^uint32(0)})...)
		}
		return c.send("batched", b)
	}
	return true
}

// ppp answers what the server sent our call, sometimes properly (so that
// LCP opens and authentication starts), and sends random frames with
// random sequence numbers.
func (w *chaosWorker) ppp(call *chaosCall) {
	r := w.r
	send := func(kind string, seq uint32, frame []byte) {
		r.sendGRE(chaosGREPacket(w.rng, call.srv, seq, frame))
		r.st.add("gre/"+kind, 1)
	}
	next := func() uint32 { call.seq++; return call.seq }
	for done := false; !done; {
		select {
		case g := <-w.inbox:
			if g.h.CallID != call.our {
				continue
			}
			if g.h.HasSeq {
				call.rxSeq, call.rxAny = g.h.Seq, true
			}
			if !g.ctl {
				continue
			}
			switch {
			case g.proto == ppp.ProtoLCP && g.pkt.Code == ppp.ConfReq:
				call.last = &g.pkt
				if w.rng.IntN(5) != 0 {
					send("lcp-confack", next(), ppp.AppendFrame(nil, ppp.ProtoLCP, ppp.Packet{Code: ppp.ConfAck, ID: g.pkt.ID, Data: g.pkt.Data}.Append(nil)))
					send("lcp-confreq", next(), ppp.AppendFrame(nil, ppp.ProtoLCP, ppp.Packet{Code: ppp.ConfReq, ID: uint8(w.rng.Uint32())}.Append(nil)))
				}
			case g.proto == ppp.ProtoLCP && g.pkt.Code == ppp.TermReq:
				send("lcp-termack", next(), ppp.AppendFrame(nil, ppp.ProtoLCP, ppp.Packet{Code: ppp.TermAck, ID: g.pkt.ID}.Append(nil)))
			case g.proto == ppp.ProtoCHAP && g.pkt.Code == 1:
				v := append([]byte{49}, make([]byte, 49)...)
				for i := 1; i < len(v); i++ {
					v[i] = byte(w.rng.Uint32())
				}
				send("chap-response", next(), ppp.AppendFrame(nil, ppp.ProtoCHAP, ppp.Packet{Code: 2, ID: g.pkt.ID, Data: append(v, user...)}.Append(nil)))
			}
		default:
			done = true
		}
	}
	for range 1 + w.rng.IntN(6) {
		switch w.rng.IntN(12) {
		case 0: // the same sequence number again
			send("seq-duplicate", call.seq, chaosPPPFrame(w.rng, call.last))
		case 1: // behind the window
			send("seq-old", call.seq-uint32(1+w.rng.IntN(1<<20)), chaosPPPFrame(w.rng, call.last))
		case 2: // far ahead: a jump the server takes as loss
			call.seq += uint32(32 + w.rng.IntN(1<<16))
			send("seq-ahead", call.seq, chaosPPPFrame(w.rng, call.last))
		case 3: // ack only, acknowledging what the server sent or not
			ack := w.rng.Uint32()
			if call.rxAny && w.rng.IntN(2) == 0 {
				ack = call.rxSeq
			}
			h := gre.Header{CallID: call.srv, HasAck: true, Ack: ack}
			r.sendGRE(h.Append(nil))
			r.st.add("gre/ack-only", 1)
		case 4: // a zero-length payload with a sequence number
			h := gre.Header{CallID: call.srv, HasSeq: true, Seq: next()}
			r.sendGRE(h.Append(nil))
			r.st.add("gre/empty-payload", 1)
		case 5: // oversized: larger than any MRU, often larger than the
			// server's receive buffer (4096), arriving in IP fragments
			f := ppp.AppendFrame(nil, ppp.ProtoLCP, ppp.Packet{Code: ppp.EchoReq, ID: 1, Data: make([]byte, 1500+w.rng.IntN(6500))}.Append(nil))
			send("oversized", next(), f)
		default:
			send("ppp", next(), chaosPPPFrame(w.rng, call.last))
		}
	}
}

// greBurst sends GRE for Call IDs the worker picks at random: mostly
// unknown, sometimes another worker's (same address, so accepted) or the
// victim's.
func (w *chaosWorker) greBurst() {
	for range 5 + w.rng.IntN(30) {
		id := uint16(w.rng.Uint32())
		if id == w.r.victimID {
			w.r.st.add("gre/blind-hit-victim", 1)
		}
		w.r.sendGRE(chaosGREPacket(w.rng, id, w.rng.Uint32(), chaosPPPFrame(w.rng, nil)))
		w.r.st.add("gre/blind", 1)
	}
	w.sleep(100 * time.Millisecond)
}

// chaosProbe checks exact accounting on a quiet server: known numbers of
// packets with unknown Call IDs, for the victim's call from the wrong
// address and with malformed headers, and late and duplicate sequence
// numbers on a call of the attacker's own.
func chaosProbe(t *testing.T, tp *topo, atk *netns.Host, metrics string, victimID uint16) {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	g := chaosGRESocket(t, atk)
	defer g.Close()
	dst := &net.IPAddr{IP: chaosSrvAtk.Addr().AsSlice()}
	before := chaosScrape(t, tp, metrics)
	const nUnknown, nVictim, nMalformed = 50, 50, 40
	for i := range nUnknown {
		id := victimID + 1 + uint16(i)*97 // no other call exists now
		g.WriteTo(chaosGREPacket(rng, id, rng.Uint32(), chaosPPPFrame(rng, nil)), dst)
	}
	for range nVictim {
		g.WriteTo(chaosGREPacket(rng, victimID, chaosSeqFor(rng), chaosPPPFrame(rng, nil)), dst)
	}
	for range nMalformed {
		g.WriteTo(chaosMalformedGRE(rng, victimID), dst)
	}
	want := map[string]float64{
		`pptp_drops_total{reason="unknown_call"}`: nUnknown,
		`pptp_drops_total{reason="wrong_peer"}`:   nVictim,
		`pptp_drops_total{reason="malformed"}`:    nMalformed,
	}
	var got map[string]float64
	delta := func() map[string]float64 {
		out := map[string]float64{}
		for k := range want {
			out[k] = got[k] - before[k]
		}
		return out
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		got = chaosScrape(t, tp, metrics)
		done := true
		for k, v := range want {
			done = done && got[k]-before[k] >= v
		}
		if done || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	for k, v := range want {
		if d := got[k] - before[k]; d != v {
			t.Errorf("probe: %s rose by %v, want %v", k, d, v)
		}
	}
	t.Logf("probe: drops by reason after %d unknown-call, %d wrong-peer and %d malformed packets: %v",
		nUnknown, nVictim, nMalformed, delta())

	// Sequence numbers on a call of the attacker's own: the duplicate and
	// the late ones are dropped and counted; so is the call's loss.
	nc, err := dialFrom(atk, netip.AddrPortFrom(chaosSrvAtk.Addr(), pptp.Port))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	rd := pptp.NewReader(nc)
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	nc.Write(chaosSCCRQ(pptp.ProtocolVersion))
	if m, _, err := rd.ReadMessage(); err != nil || m.Type() != pptp.TypeStartCtrlConnReply {
		t.Fatalf("probe: start: %v %v", m, err)
	}
	nc.Write(pptp.Marshal(&pptp.OutgoingCallRequest{CallID: 0x7777, MaxBPS: 1e6, RecvWindowSize: 64}))
	m, _, err := rd.ReadMessage()
	rp, ok := m.(*pptp.OutgoingCallReply)
	if err != nil || !ok || rp.Result != pptp.OutgoingConnected {
		t.Fatalf("probe: call: %v %v", m, err)
	}
	nc.SetDeadline(time.Time{})
	seqBefore := chaosScrape(t, tp, metrics)
	echo := func(seq uint32) {
		f := ppp.AppendFrame(nil, ppp.ProtoLCP, ppp.Packet{Code: ppp.EchoReq, ID: uint8(seq), Data: []byte{0, 0, 0, 0}}.Append(nil))
		g.WriteTo(append(gre.Header{CallID: rp.CallID, HasSeq: true, Seq: seq, PayloadLen: uint16(len(f))}.Append(nil), f...), dst)
	}
	const s = 1000
	for _, seq := range []uint32{s, s, s - 1, s - 500, s + 1, s + 1, s + 101, s + 50} {
		echo(seq)
		time.Sleep(5 * time.Millisecond) // one at a time, not one batch
	}
	// Accepted: s, s+1, s+101 (99 lost); dropped: s again, s-1, s-500,
	// s+1 again, s+50 (behind s+101).
	const wantDropped, wantLost = 5, 99
	var ms map[string]float64
	chaosPoll(t, 3*time.Second, "sequence drops on the probe call", func() (bool, string) {
		ms = chaosScrape(t, tp, metrics)
		d := ms[`pptp_drops_total{reason="sequence"}`] - seqBefore[`pptp_drops_total{reason="sequence"}`]
		return d >= wantDropped, fmt.Sprintf("%v dropped", d)
	})
	if d := ms[`pptp_drops_total{reason="sequence"}`] - seqBefore[`pptp_drops_total{reason="sequence"}`]; d != wantDropped {
		t.Errorf("probe: sequence drops rose by %v, want %v", d, wantDropped)
	}
	if d := ms[`pptp_gre_sequence_total{event="lost"}`] - seqBefore[`pptp_gre_sequence_total{event="lost"}`]; d != wantLost {
		t.Errorf("probe: lost rose by %v, want %v", d, wantLost)
	}
	for _, si := range tp.sessions(t) {
		if si.ID == rp.CallID && (si.Dropped != wantDropped || si.Lost != wantLost) {
			t.Errorf("probe call: %d dropped, %d lost, want %d and %d", si.Dropped, si.Lost, wantDropped, wantLost)
		}
	}
	// Counters are counters: they must not fall when the call ends.
	nc.Close()
	chaosPoll(t, 5*time.Second, "the probe call to end", func() (bool, string) {
		st := chaosStats(t, tp)
		return st.ok(), st.String()
	})
	end := chaosScrape(t, tp, metrics)
	for k := range end {
		if (strings.HasPrefix(k, "pptp_drops_total") || strings.HasPrefix(k, "pptp_gre_sequence_total") ||
			strings.HasPrefix(k, "pptp_packets_total") || strings.HasPrefix(k, "pptp_bytes_total")) && end[k] < ms[k] {
			t.Errorf("counter %s fell from %v to %v when a call ended", k, ms[k], end[k])
		}
	}
}
