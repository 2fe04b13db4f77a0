package integration

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gopptp/gopptp/internal/netns"
	"github.com/gopptp/gopptp/internal/pcapfile"
	"github.com/gopptp/gopptp/internal/testtool"
)

// wireSessions are the session kinds of TestTunnel, with the same server
// and client options, so that the wire format of each is checked by an
// independent decoder.
var wireSessions = []struct {
	name           string
	server, client []string
	auth           string // tshark's protocol name for the authentication phase
	mppe           bool
}{
	{name: "mschapv2-mppe128-stateless", auth: "chap", mppe: true,
		server: []string{"refuse-pap", "refuse-chap", "refuse-mschap", "require-mschap-v2", "require-mppe-128"}},
	{name: "mschapv2-mppe128-stateful", auth: "chap", mppe: true,
		server: []string{"require-mschap-v2", "require-mppe-128", "mppe-stateful"}, client: []string{"mppe-stateful"}},
	{name: "mschapv2-mppe40", auth: "chap", mppe: true,
		server: []string{"require-mschap-v2", "require-mppe-40"}, client: []string{"require-mppe-40"}},
	{name: "mschapv2-mppe56", auth: "chap", mppe: true,
		server: []string{"require-mschap-v2", "mppe required,no40,no128"}, client: []string{"mppe", "required,no40,no128"}},
	{name: "mschapv1-mppe128", auth: "chap", mppe: true,
		server: []string{"require-mschap", "require-mppe-128"}},
	{name: "chapmd5-nomppe", auth: "chap",
		server: []string{"require-chap", "nomppe"}, client: []string{"nomppe"}},
	{name: "pap-nomppe", auth: "pap",
		server: []string{"require-pap", "nomppe"}, client: []string{"nomppe"}},
}

// PPTP control message types (RFC 2637 section 2), as tshark's
// pptp.control_message_type reports them.
const (
	pptpSCCRQ  = 1
	pptpSCCRP  = 2
	pptpStopRQ = 3
	pptpStopRP = 4
	pptpOCRQ   = 7
	pptpOCRP   = 8
	pptpCCRQ   = 12
	pptpCDN    = 13
)

// wireTransfer is the number of bytes moved each way through the tunnel:
// enough for a few hundred data frames, little enough to keep the
// capture small.
const wireTransfer = 256 << 10

// pptpFromClient and pptpFromServer say which side sends each message of a
// session the client opens and closes: the requests come from the client
// and the replies from the server. Call-Disconnect-Notify answers the
// client's Call-Clear-Request (RFC 2637 section 2.12-2.13).
var (
	pptpFromClient = []int{pptpSCCRQ, pptpOCRQ, pptpCCRQ, pptpStopRQ}
	pptpFromServer = []int{pptpSCCRP, pptpOCRP, pptpCDN, pptpStopRP}
)

// Expert-info severities as tshark prints _ws.expert.severity.
const (
	severityWarning = 0x00600000
	severityError   = 0x00800000
)

// TestWireFormatTshark captures each kind of session between our pptp and
// pptpd on the server's underlay interface and has Wireshark's dissectors
// judge it: no malformed packet, no expert error, and every layer we
// claim to speak (PPTP control, enhanced GRE, LCP, authentication, IPCP,
// CCP, MPPE or plain IP) actually recognised as such.
func TestWireFormatTshark(t *testing.T) {
	netns.RequireRoot(t)
	tools := wireTools(t, "tcpdump", "tshark")
	tcpdump, tshark := tools[0], tools[1]
	t.Log(tsharkVersion(t, tshark))
	for _, tc := range wireSessions {
		t.Run(tc.name, func(t *testing.T) {
			tp, srvIf := newWireTopo(t)
			pcap := filepath.Join(tp.dir, "wire.pcap")
			dump := startTcpdump(t, tp.srv, tcpdump, srvIf, pcap)

			srv := tp.startServer(t, tc.server...)
			c := tp.startClient(t, "ppp0", append([]string{"name", user, "password", password}, tc.client...)...)
			srv.WaitFor(t, regexp.MustCompile(`msg="session up"`), 5*time.Second)
			netns.Ping(t, tp.cli, lanHost.Addr(), 3, 5*time.Second)
			netns.Ping(t, tp.lan, c.local, 3, 5*time.Second)
			netns.TransferTCP(t, tp.cli, tp.lan, lanHost.Addr(), wireTransfer)
			netns.TransferTCP(t, tp.lan, tp.cli, c.local, wireTransfer)
			c.stop(t)
			srv.WaitFor(t, regexp.MustCompile(`msg="session down"`), 5*time.Second)
			captured := stopTcpdump(t, dump)

			d := dissect(t, tshark, pcap)
			if len(d.frames) != captured {
				t.Errorf("tshark read %d frames, tcpdump captured %d", len(d.frames), captured)
			}
			d.check(t, cliUnder.Addr().String(), srvUnder.Addr().String(), tc.auth, tc.mppe, true)
			if t.Failed() {
				// Keep the evidence: the temporary directory goes away.
				if keep, err := os.CreateTemp("", "gopptp-wire-"+tc.name+"-*.pcap"); err == nil {
					data, _ := os.ReadFile(pcap)
					keep.Write(data)
					keep.Close()
					t.Logf("capture kept in %s", keep.Name())
				}
			}
		})
	}
}

// TestWireFormatTsharkControl runs the same checks over the real pppd
// sessions in testdata/captures. They are known to be correct, so a
// failure here means the checks or the installed tshark are at fault,
// not our implementation. pptp-linux ends those sessions with a
// Call-Clear-Request and nothing after it, so the shutdown messages are
// not required.
func TestWireFormatTsharkControl(t *testing.T) {
	tshark := wireTools(t, "tshark")[0]
	t.Log(tsharkVersion(t, tshark))
	paths, err := pcapfile.All()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	for _, path := range paths {
		name := filepath.Base(path)
		if !strings.HasPrefix(name, "pppd-") || strings.Contains(name, ".client-ppp0.") {
			continue
		}
		n++
		auth := "chap"
		if strings.Contains(name, "-pap-") {
			auth = "pap"
		}
		t.Run(name, func(t *testing.T) {
			// Addresses from testdata/captures/README.md.
			dissect(t, tshark, path).check(t, "10.99.0.3", "10.99.0.2", auth, strings.Contains(name, "-mppe"), false)
		})
	}
	if n < 5 {
		t.Errorf("%d pppd captures, want 5", n)
	}
}

// wireTools returns the paths of the named tools (see testtool.Require).
func wireTools(t *testing.T, names ...string) []string {
	t.Helper()
	return testtool.Require(t, "tcpdump, tshark", names...)
}

// tsharkVersion returns the first line of tshark --version.
func tsharkVersion(t *testing.T, tshark string) string {
	t.Helper()
	out, err := exec.Command(tshark, "--version").Output()
	if err != nil {
		t.Fatalf("tshark --version: %v", err)
	}
	line, _, _ := strings.Cut(string(out), "\n")
	return line
}

// newWireTopo builds the topology of newTopo, which does not return the
// interface names, and also returns the server's interface towards the
// client, the one to capture on.
func newWireTopo(t *testing.T) (*topo, string) {
	t.Helper()
	netns.RequireRoot(t)
	tp := &topo{cli: netns.NewHost(t, "cli"), srv: netns.NewHost(t, "srv"), lan: netns.NewHost(t, "lan"), dir: t.TempDir()}
	_, srvIf := netns.Connect(t, tp.cli, tp.srv, cliUnder, srvUnder)
	netns.Connect(t, tp.srv, tp.lan, srvLAN, lanHost)
	tp.srv.Sysctl(t, "net.ipv4.ip_forward", "1")
	tp.lan.MustRun(t, "ip", "route", "add", "192.168.0.0/24", "via", srvLAN.Addr().String())
	return tp, srvIf
}

// startTcpdump captures the PPTP control connection and GRE on ifName in
// h into file, and returns once tcpdump is listening.
func startTcpdump(t *testing.T, h *netns.Host, tcpdump, ifName, file string) *netns.Process {
	t.Helper()
	// --immediate-mode hands every packet to tcpdump as it arrives and
	// -U writes it out at once, so nothing waits in a buffer when the
	// capture is stopped. In immediate mode every slot of the kernel's
	// ring is a full snapshot length long: with the default 256 KiB
	// snapshot the default ring holds a handful of packets and a burst
	// of the transfer overflows it. The underlay's frames are at most
	// 1514 bytes (dissect checks that none was cut), so 2 KiB slots and
	// 8 MiB give room for thousands. -Z root keeps tcpdump from dropping
	// to a user that cannot write to the test's private directory.
	p := h.Start(t, tcpdump, "-i", ifName, "-n", "-s", "2048", "-B", "8192", "--immediate-mode", "-U", "-Z", "root",
		"-w", file, "tcp port 1723 or ip proto 47")
	p.WaitFor(t, regexp.MustCompile(`listening on `+regexp.QuoteMeta(ifName)), 10*time.Second)
	return p
}

var capturedRE = regexp.MustCompile(`(\d+) packets? captured`)
var droppedRE = regexp.MustCompile(`(\d+) packets? dropped by kernel`)

// stopTcpdump ends the capture cleanly and returns the number of packets
// tcpdump wrote.
func stopTcpdump(t *testing.T, p *netns.Process) int {
	t.Helper()
	// The control connection's last segments (the server's FIN and the
	// final ACK) follow the session's end by a moment.
	time.Sleep(300 * time.Millisecond)
	p.Signal(syscall.SIGINT)
	code, err := p.Wait(10 * time.Second)
	if err != nil || code != 0 {
		t.Fatalf("tcpdump exit: code %d, %v\n%s", code, err, p.Output())
	}
	out := p.Output()
	m := capturedRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("tcpdump did not report its packet count:\n%s", out)
	}
	if d := droppedRE.FindStringSubmatch(out); d == nil || d[1] != "0" {
		t.Errorf("tcpdump dropped packets, the capture is incomplete:\n%s", out)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// wireFrame is one frame as tshark dissected it.
type wireFrame struct {
	num       int
	src       string
	protos    []string // frame.protocols, outermost first
	pptpTypes []int    // PPTP control message types, one per message
	greVer    []string
	greProto  []string
	severity  []int // expert-info items
	expert    []string
	info      string
}

func (f wireFrame) has(proto string) bool { return slices.Contains(f.protos, proto) }

// above reports whether inner is dissected directly on top of outer.
func (f wireFrame) above(outer, inner string) bool {
	i := slices.Index(f.protos, outer)
	return i >= 0 && i+1 < len(f.protos) && f.protos[i+1] == inner
}

// dissection is tshark's view of one capture.
type dissection struct {
	tshark, file string
	frames       []wireFrame
	malformed    []string // tshark's summary lines of malformed frames
}

// tsharkAggregator separates the occurrences of a field; the unit separator
// cannot appear in tshark's field values or expert messages.
const tsharkAggregator = "\x1f"

var wireFields = []string{"frame.number", "frame.len", "frame.cap_len", "ip.src", "frame.protocols", "pptp.control_message_type",
	"gre.flags.version", "gre.proto", "_ws.expert.severity", "_ws.expert.message", "_ws.col.Info"}

// dissect runs tshark over file.
func dissect(t *testing.T, tshark, file string) *dissection {
	t.Helper()
	d := &dissection{tshark: tshark, file: file}
	args := []string{"-n", "-T", "fields", "-E", "separator=/t", "-E", "occurrence=a", "-E", "aggregator=" + tsharkAggregator}
	for _, f := range wireFields {
		args = append(args, "-e", f)
	}
	for _, line := range d.run(t, args...) {
		c := strings.Split(line, "\t")
		if len(c) != len(wireFields) {
			t.Fatalf("tshark line with %d fields, want %d: %q", len(c), len(wireFields), line)
		}
		num, err := strconv.Atoi(c[0])
		if err != nil {
			t.Fatalf("tshark frame number %q", c[0])
		}
		if c[1] != c[2] {
			t.Errorf("frame %d: %s of %s bytes captured: the snapshot length is too short", num, c[2], c[1])
		}
		c = c[2:]
		// A datagram decoded inside the tunnel adds its own ip.src;
		// the first is the underlay's.
		src, _, _ := strings.Cut(c[1], tsharkAggregator)
		f := wireFrame{num: num, src: src, protos: strings.Split(c[2], ":"),
			greVer: splitField(c[4]), greProto: splitField(c[5]), expert: splitField(c[7]), info: c[8]}
		for _, s := range splitField(c[3]) {
			n, _ := strconv.Atoi(s)
			f.pptpTypes = append(f.pptpTypes, n)
		}
		for _, s := range splitField(c[6]) {
			n, _ := strconv.Atoi(s)
			f.severity = append(f.severity, n)
		}
		d.frames = append(d.frames, f)
	}
	// _ws.malformed is not listed in frame.protocols, so ask for it
	// with the display filter made for it.
	d.malformed = d.run(t, "-n", "-Y", "_ws.malformed")
	return d
}

// splitField splits one field of tshark output into its occurrences.
func splitField(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, tsharkAggregator)
}

// run runs tshark over the capture with args and returns its output lines.
func (d *dissection) run(t *testing.T, args ...string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, d.tshark, append([]string{"-r", d.file}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	var lines []string
	for _, l := range strings.Split(string(out), "\n") {
		if l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

// detail returns tshark's full dissection and hex dump of frame num, for
// the report of a complaint.
func (d *dissection) detail(t *testing.T, num int) string {
	t.Helper()
	return strings.Join(d.run(t, "-n", "-V", "-x", "-Y", fmt.Sprintf("frame.number == %d", num)), "\n")
}

// check asserts that the capture is clean and that every layer of a PPTP
// session between client and server was recognised. complete requires the
// full shutdown sequence that a clean disconnect of our client produces.
func (d *dissection) check(t *testing.T, client, server, auth string, mppe, complete bool) {
	t.Helper()
	if len(d.frames) == 0 {
		t.Fatal("tshark decoded no frames")
	}
	for _, line := range d.malformed {
		t.Errorf("malformed: %s", line)
	}
	detailed := 0
	counts := map[string]int{}
	pptpSeen := map[int][]string{} // message type -> senders
	var greFrames, pppInGRE, plainIP int
	for _, f := range d.frames {
		for i, sev := range f.severity {
			msg := ""
			if i < len(f.expert) {
				msg = f.expert[i]
			}
			switch sev {
			case severityError:
				t.Errorf("frame %d (%s): expert error: %s", f.num, f.info, msg)
				if detailed < 3 {
					detailed++
					t.Logf("frame %d as tshark sees it:\n%s", f.num, d.detail(t, f.num))
				}
			case severityWarning:
				t.Logf("frame %d (%s): expert warning: %s", f.num, f.info, msg)
			}
		}
		for _, p := range slices.Compact(slices.Sorted(slices.Values(f.protos))) {
			counts[p]++
		}
		for _, typ := range f.pptpTypes {
			pptpSeen[typ] = append(pptpSeen[typ], f.src)
		}
		if f.has("gre") {
			greFrames++
			// Every GRE packet of a PPTP session is enhanced GRE
			// (version 1) carrying PPP (RFC 2637 section 4.1).
			if !slices.Equal(f.greVer, []string{"1"}) || !slices.Equal(f.greProto, []string{"0x880b"}) {
				t.Errorf("frame %d: GRE version %v protocol %v, want 1 and 0x880b", f.num, f.greVer, f.greProto)
			}
			if f.above("gre", "ppp") {
				pppInGRE++
			}
			if f.above("ppp", "ip") {
				plainIP++
			}
		}
	}
	for _, typ := range pptpFromClient {
		d.wantPPTP(t, pptpSeen, typ, client, complete)
	}
	for _, typ := range pptpFromServer {
		d.wantPPTP(t, pptpSeen, typ, server, complete)
	}
	if greFrames == 0 || pppInGRE == 0 {
		t.Errorf("%d GRE frames, %d with PPP inside; want both", greFrames, pppInGRE)
	}
	want := []string{"lcp", auth, "ipcp", "ccp"}
	if mppe {
		// tshark names MPPE frames "PPP Compressed Datagram".
		want = append(want, "comp_data")
		// With MPPE negotiated, no datagram may cross in the clear.
		if plainIP > 0 {
			t.Errorf("%d unencrypted IP frames in an MPPE session", plainIP)
		}
	} else {
		// The capture filter admits ICMP only inside the tunnel.
		want = append(want, "icmp")
		if plainIP == 0 {
			t.Error("no IP datagram decoded inside PPP")
		}
		if counts["comp_data"] > 0 {
			t.Errorf("%d compressed datagrams in a session without MPPE", counts["comp_data"])
		}
	}
	for _, p := range want {
		if counts[p] == 0 {
			t.Errorf("tshark decoded no %s frame", p)
		}
	}
	t.Logf("%d frames: pptp %d, gre %d (ppp %d), lcp %d, %s %d, ipcp %d, ipv6cp %d, ccp %d, comp_data %d, ppp-ip %d; pptp messages %v; malformed %d",
		len(d.frames), counts["pptp"], greFrames, pppInGRE, counts["lcp"], auth, counts[auth], counts["ipcp"],
		counts["ipv6cp"], counts["ccp"], counts["comp_data"], plainIP, pptpSummary(pptpSeen), len(d.malformed))
}

// wantPPTP asserts that tshark saw message typ, sent by from. Only the
// connection set-up is required when the session's end is not (complete
// is false), except the Call-Clear-Request every captured session has.
func (d *dissection) wantPPTP(t *testing.T, seen map[int][]string, typ int, from string, complete bool) {
	t.Helper()
	switch typ {
	case pptpCDN, pptpStopRQ, pptpStopRP:
		if !complete {
			return
		}
	}
	srcs := seen[typ]
	if len(srcs) == 0 {
		t.Errorf("tshark decoded no PPTP control message type %d (%s)", typ, pptpName(typ))
		return
	}
	for _, s := range srcs {
		if s != from {
			t.Errorf("PPTP %s sent by %s, want %s", pptpName(typ), s, from)
		}
	}
}

var pptpNames = map[int]string{
	pptpSCCRQ: "Start-Control-Connection-Request", pptpSCCRP: "Start-Control-Connection-Reply",
	pptpStopRQ: "Stop-Control-Connection-Request", pptpStopRP: "Stop-Control-Connection-Reply",
	5: "Echo-Request", 6: "Echo-Reply",
	pptpOCRQ: "Outgoing-Call-Request", pptpOCRP: "Outgoing-Call-Reply",
	pptpCCRQ: "Call-Clear-Request", pptpCDN: "Call-Disconnect-Notify",
	14: "WAN-Error-Notify", 15: "Set-Link-Info",
}

func pptpName(typ int) string {
	if n, ok := pptpNames[typ]; ok {
		return n
	}
	return "type " + strconv.Itoa(typ)
}

// pptpSummary lists the PPTP messages seen, in type order, with counts.
func pptpSummary(seen map[int][]string) string {
	var types []int
	for typ := range seen {
		types = append(types, typ)
	}
	sort.Ints(types)
	var parts []string
	for _, typ := range types {
		parts = append(parts, fmt.Sprintf("%s×%d", pptpName(typ), len(seen[typ])))
	}
	return strings.Join(parts, " ")
}
