// Command fuzzseed writes the seed corpora of the module's fuzz targets, in
// the format of go test's testdata/fuzz/FuzzName directories, from two
// sources:
//
//   - the real sessions in testdata/captures (pppd, pptp-linux, PoPToP and
//     Windows): PPTP control messages split out of the TCP 1723 streams,
//     GRE packets, the PPP frames inside them, the LCP, IPCP, CCP, PAP and
//     CHAP packets inside those, MS-CHAP Success and Failure texts, and the
//     MPPE-encrypted payloads;
//   - sessions of our own protocol engines run back to back in memory (LCP,
//     IPCP and CCP negotiations with several policies, each authentication
//     method with right and wrong passwords, and MPPE packets in every mode,
//     stateful included, which no capture has).
//
// Run it from the module root after the captures or the targets change:
//
//	go run ./internal/fuzzseed [-captures DIR] [-n] [extra.pcap ...]
//
// Extra pcap files (Ethernet, Linux cooked or raw IPv4 framing, filtered to
// TCP 1723 and GRE), such as a capture of our own pptp and pptpd taken with
// tcpdump, are mined like the ones in testdata/captures.
//
// The files it writes are named cap-<hash> (from captures) and own-<hash>
// (from in-memory sessions). Before writing, it removes the cap-* and own-*
// files of every target it writes to, so the corpora follow the sources;
// other files, such as crashers the fuzzer saved, are left alone. Entries
// are deduplicated and capped per target, so that the corpora stay small.
package main

import (
	"crypto/sha256"
	"encoding/binary"
	"flag"
	"fmt"
	"log"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/gopptp/gopptp/gre"
	"github.com/gopptp/gopptp/internal/hdlc"
	"github.com/gopptp/gopptp/internal/pcapfile"
	"github.com/gopptp/gopptp/ppp"
)

func main() {
	capDir := flag.String("captures", "testdata/captures", "directory of the .pcap files to mine")
	dry := flag.Bool("n", false, "only print what would be written")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: go run ./internal/fuzzseed [-captures DIR] [-n] [extra.pcap ...]\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if _, err := os.Stat("go.mod"); err != nil {
		log.Fatal("run from the module root (no go.mod here)")
	}
	paths, err := filepath.Glob(filepath.Join(*capDir, "*.pcap"))
	if err != nil {
		log.Fatal(err)
	}
	paths = append(paths, flag.Args()...)
	c := newCorpus()
	for _, p := range paths {
		if strings.HasSuffix(p, "-ppp0.pcap") {
			continue // the decrypted tunnel interface: IP only, no PPTP
		}
		if err := mineCapture(c, p); err != nil {
			log.Fatalf("%s: %v", p, err)
		}
	}
	ownSessions(c)
	if err := c.write(*dry); err != nil {
		log.Fatal(err)
	}
}

// Targets: the package directory and the function name of each fuzz target
// this program seeds, and how many entries each may get.
type target struct {
	pkg, name string
	max       int // entries at most
	perClass  int // entries at most per class (see corpus.add)
}

var (
	tPPTPParse    = target{"pptp", "FuzzParse", 80, 4}
	tPPTPReader   = target{"pptp", "FuzzReader", 30, 30}
	tGREParse     = target{"gre", "FuzzParse", 150, 3}
	tPPPFrame     = target{"ppp", "FuzzParseFrame", 120, 3}
	tPPPPacket    = target{"ppp", "FuzzParsePacket", 150, 3}
	tPPPFSM       = target{"ppp", "FuzzFSMInput", 60, 4}
	tLCP          = target{"ppp/lcp", "FuzzLCP", 120, 4}
	tIPCP         = target{"ppp/ipcp", "FuzzIPCP", 100, 4}
	tCCP          = target{"ppp/ccp", "FuzzCCP", 100, 4}
	tAuth         = target{"ppp/auth", "FuzzAuth", 150, 4}
	tMSCHAPFail   = target{"mschap", "FuzzParseFailure", 60, 6}
	tMPPEOpen     = target{"mppe", "FuzzOpen", 80, 4}
	tDatapathRecv = target{"datapath", "FuzzReceive", 80, 3}
	tHDLC         = target{"internal/hdlc", "FuzzDecoder", 60, 6}
)

// corpus collects the entries of every target.
type corpus struct {
	targets map[target]*entries
}

type entries struct {
	seen    map[string]bool // hashes of the inputs added
	classes []*class        // in the order first seen
	byName  map[string]*class
}

type class struct {
	files []file
}

type file struct {
	name string
	data []byte
}

func newCorpus() *corpus { return &corpus{targets: map[target]*entries{}} }

// add records one input of t, made of the target's arguments vals, from
// origin "cap" or "own". class groups similar inputs (the same message
// type from the same capture, say): the corpus takes inputs from every
// class in turn, and at most t.perClass from each, so that hundreds of
// near-identical data packets do not crowd out the rare control packets.
// Duplicates are dropped.
func (c *corpus) add(t target, origin, cls string, vals ...any) {
	e := c.targets[t]
	if e == nil {
		e = &entries{seen: map[string]bool{}, byName: map[string]*class{}}
		c.targets[t] = e
	}
	data := marshal(vals...)
	sum := sha256.Sum256(data)
	h := fmt.Sprintf("%x", sum[:8])
	if e.seen[h] {
		return
	}
	e.seen[h] = true
	k := e.byName[origin+" "+cls]
	if k == nil {
		k = &class{}
		e.byName[origin+" "+cls] = k
		e.classes = append(e.classes, k)
	}
	k.files = append(k.files, file{origin + "-" + h, data})
}

// pick returns the files of t: the first of every class, then the second,
// and so on, up to t.perClass per class and t.max in all.
func (e *entries) pick(t target) []file {
	var out []file
	for r := 0; r < t.perClass; r++ {
		for _, k := range e.classes {
			if r < len(k.files) && len(out) < t.max {
				out = append(out, k.files[r])
			}
		}
	}
	return out
}

// marshal encodes a fuzz input the way go test stores one ("go test fuzz
// v1", then one Go literal per argument).
func marshal(vals ...any) []byte {
	var b strings.Builder
	b.WriteString("go test fuzz v1\n")
	for _, v := range vals {
		switch v := v.(type) {
		case []byte:
			fmt.Fprintf(&b, "[]byte(%q)\n", v)
		case string:
			fmt.Fprintf(&b, "string(%q)\n", v)
		case byte:
			fmt.Fprintf(&b, "byte(%q)\n", v)
		case bool, uint16, uint32, uint64, int:
			fmt.Fprintf(&b, "%T(%v)\n", v, v)
		default:
			panic(fmt.Sprintf("fuzzseed: unsupported argument type %T", v))
		}
	}
	return []byte(b.String())
}

func (c *corpus) write(dry bool) error {
	ts := make([]target, 0, len(c.targets))
	for t := range c.targets {
		ts = append(ts, t)
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].pkg+ts[i].name < ts[j].pkg+ts[j].name })
	for _, t := range ts {
		files := c.targets[t].pick(t)
		dir := filepath.Join(t.pkg, "testdata", "fuzz", t.name)
		ncap := 0
		for _, f := range files {
			if strings.HasPrefix(f.name, "cap-") {
				ncap++
			}
		}
		fmt.Printf("%-14s %-17s %4d entries (%d from captures, %d from own sessions)\n",
			t.pkg, t.name, len(files), ncap, len(files)-ncap)
		if dry {
			continue
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		old, err := os.ReadDir(dir)
		if err != nil {
			return err
		}
		for _, f := range old {
			if n := f.Name(); strings.HasPrefix(n, "cap-") || strings.HasPrefix(n, "own-") {
				if err := os.Remove(filepath.Join(dir, n)); err != nil {
					return err
				}
			}
		}
		for _, f := range files {
			if err := os.WriteFile(filepath.Join(dir, f.name), f.data, 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}

// scenario describes a capture from its file name: the authentication
// method (index into ppp/auth's FuzzAuth method list: PAP, CHAP-MD5,
// MS-CHAPv1, MS-CHAPv2) and the MPPE key length (0 for none).
type scenario struct {
	authIdx byte
	keyBits int
}

func scenarioOf(path string) scenario {
	b := filepath.Base(path)
	var s scenario
	switch {
	case strings.Contains(b, "pap"):
		s.authIdx = 0
	case strings.Contains(b, "chapmd5"):
		s.authIdx = 1
	case strings.Contains(b, "mschapv1"):
		s.authIdx = 2
	default: // mschapv2, and the Windows session
		s.authIdx = 3
	}
	switch {
	case strings.Contains(b, "mppe128"):
		s.keyBits = 128
	case strings.Contains(b, "mppe40"):
		s.keyBits = 40
	case strings.Contains(b, "mppe56"):
		s.keyBits = 56
	}
	return s
}

// frame is one PPP frame of a capture with where it came from.
type frame struct {
	fromServer bool
	hdr        gre.Header
	gre        []byte // the GRE packet
	raw        []byte // the PPP frame (GRE payload)
	proto      ppp.Protocol
	info       []byte
}

func mineCapture(c *corpus, path string) error {
	pkts, err := pcapfile.Read(path)
	if err != nil {
		return err
	}
	sc := scenarioOf(path)
	// Classes are per capture, so that every capture contributes.
	add := func(t target, cls string, vals ...any) {
		c.add(t, "cap", filepath.Base(path)+" "+cls, vals...)
	}

	// The control connection: which end is the server, and the messages.
	var server netip.Addr
	for _, s := range pcapfile.TCPStreams(pkts, 1723) {
		if s.Src.Port() == 1723 {
			server = s.Src.Addr()
		}
		add(tPPTPReader, "stream", s.Data)
		for off := 0; off+8 <= len(s.Data); {
			n := int(binary.BigEndian.Uint16(s.Data[off:]))
			if n < 12 || off+n > len(s.Data) {
				break
			}
			msg := s.Data[off : off+n]
			add(tPPTPParse, fmt.Sprint("type", binary.BigEndian.Uint16(msg[8:])), msg)
			off += n
		}
	}
	if !server.IsValid() {
		return fmt.Errorf("no TCP 1723 stream from a server")
	}

	var frames []frame
	for _, p := range pcapfile.GRE(pkts) {
		h, payload, err := gre.Parse(p.Payload)
		if err != nil {
			return fmt.Errorf("frame %d: %v", p.Index, err)
		}
		greClass := fmt.Sprintf("%04x", binary.BigEndian.Uint16(p.Payload))
		f := frame{fromServer: p.Src == server, hdr: h, gre: p.Payload, raw: payload}
		if len(payload) > 0 {
			f.proto, f.info, err = ppp.ParseFrame(payload)
			if err != nil {
				return fmt.Errorf("frame %d: %v", p.Index, err)
			}
			greClass += " " + f.proto.String() + " " + frameForm(payload)
			if !f.proto.IsNetwork() && len(f.info) > 0 {
				greClass += fmt.Sprint(" ", f.info[0])
			}
			frames = append(frames, f)
		}
		add(tGREParse, greClass, p.Payload)
		// The data path receives whole IP packets; the harness has a
		// call with Call ID 2.
		add(tDatapathRecv, greClass, ipv4GRE(p.Payload, p.Src, p.Dst, 2))
	}

	// Authentication packets get identifiers relative to the first
	// challenge (CHAP) or request (PAP), as FuzzAuth takes them.
	var authBase byte
	for _, f := range frames {
		if f.proto == ppp.ProtoCHAP || f.proto == ppp.ProtoPAP {
			if len(f.info) >= 2 && f.info[0] == 1 {
				authBase = f.info[1]
				break
			}
		}
	}

	// Per-protocol packet sequences of each sender, for the targets that
	// replay a conversation into one protocol engine.
	seqs := map[ppp.Protocol]*[2][]byte{}
	var authAll []byte
	var hdlcSeq [2][][]byte
	for _, f := range frames {
		side := 0
		if f.fromServer {
			side = 1
		}
		form := frameForm(f.raw)
		if f.proto.IsNetwork() {
			add(tPPPFrame, f.proto.String()+" "+form, f.raw)
		}
		switch f.proto {
		case ppp.ProtoMPPE:
			mode := mppeMode(sc.keyBits, true)
			add(tMPPEOpen, fmt.Sprint(side, " ", f.info[0]&0xf0), f.info, mode)
			continue
		case ppp.ProtoIPv4, ppp.ProtoIPv6:
			continue
		}
		pkt, err := ppp.ParsePacket(f.info)
		if err != nil {
			// CBCP and the like may not be control packets.
			add(tPPPFrame, f.proto.String()+" "+form, f.raw)
			continue
		}
		enc := f.info[:4+len(pkt.Data)]
		if f.proto == ppp.ProtoCHAP || f.proto == ppp.ProtoPAP {
			enc = relativeID(enc, authBase)
		}
		class := fmt.Sprintf("%v %d %d", f.proto, pkt.Code, side)
		add(tPPPFrame, class+" "+form, f.raw)
		add(tPPPPacket, class, enc)
		hdlcSeq[side] = append(hdlcSeq[side], f.raw)
		add(tHDLC, fmt.Sprint("frame ", f.proto, " ", side), hdlc.AppendFrame(nil, withAddrControl(f.raw), hdlc.DefaultACCM), hdlc.DefaultACCM)
		if s := seqs[f.proto]; s == nil {
			seqs[f.proto] = &[2][]byte{}
		}
		seqs[f.proto][side] = append(seqs[f.proto][side], enc...)
		switch f.proto {
		case ppp.ProtoLCP:
			add(tLCP, class, enc, f.fromServer)
			add(tPPPFSM, class, enc)
		case ppp.ProtoIPCP:
			add(tIPCP, class, enc, f.fromServer)
		case ppp.ProtoCCP:
			add(tCCP, class, enc, ccpPolicy(sc.keyBits, false))
		case ppp.ProtoPAP, ppp.ProtoCHAP:
			add(tAuth, class, enc, sc.authIdx)
			authAll = append(authAll, enc...)
			if f.proto == ppp.ProtoCHAP && (pkt.Code == 3 || pkt.Code == 4) {
				add(tMSCHAPFail, fmt.Sprint(sc.authIdx, pkt.Code), string(pkt.Data))
			}
		}
	}
	for side := range 2 {
		fromServer := side == 1
		if s := seqs[ppp.ProtoLCP]; s != nil && len(s[side]) > 0 {
			add(tLCP, "seq", s[side], fromServer)
			add(tPPPFSM, "seq", s[side])
		}
		if s := seqs[ppp.ProtoIPCP]; s != nil && len(s[side]) > 0 {
			add(tIPCP, "seq", s[side], fromServer)
		}
		if s := seqs[ppp.ProtoCCP]; s != nil && len(s[side]) > 0 {
			add(tCCP, "seq", s[side], ccpPolicy(sc.keyBits, false))
		}
		for _, proto := range []ppp.Protocol{ppp.ProtoPAP, ppp.ProtoCHAP} {
			if s := seqs[proto]; s != nil && len(s[side]) > 0 {
				add(tAuth, "seq", s[side], sc.authIdx)
			}
		}
		if len(hdlcSeq[side]) > 0 {
			add(tHDLC, "seq", hdlcStream(hdlcSeq[side]), hdlc.DefaultACCM)
		}
	}
	if len(authAll) > 0 {
		add(tAuth, "seq", authAll, sc.authIdx)
	}
	return nil
}

// hdlcStream frames a run of PPP control frames the way pppd writes them to
// its pty before LCP has agreed on an ACCM: every control octet escaped.
func hdlcStream(frames [][]byte) []byte {
	var out []byte
	for _, f := range frames {
		out = hdlc.AppendFrame(out, withAddrControl(f), hdlc.DefaultACCM)
	}
	return out
}

// relativeID returns a copy of the control packet pkt with base
// subtracted from its identifier.
func relativeID(pkt []byte, base byte) []byte {
	pkt = append([]byte(nil), pkt...)
	pkt[1] -= base
	return pkt
}

// withAddrControl returns frame with the FF 03 address and control field,
// which a pty always carries for LCP.
func withAddrControl(frame []byte) []byte {
	if len(frame) >= 2 && frame[0] == 0xff && frame[1] == 0x03 {
		return frame
	}
	return append([]byte{0xff, 0x03}, frame...)
}

// frameForm names the header compression of a PPP frame.
func frameForm(b []byte) string {
	s := "addr"
	if len(b) < 2 || b[0] != 0xff {
		s = "acfc"
	} else {
		b = b[2:]
	}
	if len(b) > 0 && b[0]&1 == 1 {
		s += "+pfc"
	}
	return s
}

// ipv4GRE wraps a GRE packet in an IPv4 header, with its Call ID replaced.
func ipv4GRE(g []byte, src, dst netip.Addr, callID uint16) []byte {
	pkt := make([]byte, 20+len(g))
	pkt[0] = 0x45
	binary.BigEndian.PutUint16(pkt[2:], uint16(len(pkt)))
	pkt[8] = 64
	pkt[9] = 47
	copy(pkt[12:16], src.AsSlice())
	copy(pkt[16:20], dst.AsSlice())
	copy(pkt[20:], g)
	binary.BigEndian.PutUint16(pkt[26:], callID)
	return pkt
}

// mppeMode is the mode argument of mppe's FuzzOpen: the key length is
// [40, 56, 128][mode%3] and bit 2 set means stateful.
func mppeMode(keyBits int, stateless bool) byte {
	m := byte(2)
	switch keyBits {
	case 40:
		m = 0
	case 56:
		m = 1
	}
	if !stateless {
		m |= 4
	}
	return m
}

// ccpPolicy is the policy argument of ppp/ccp's FuzzCCP: bit 0 refuses
// 128-bit keys, bits 1 and 2 allow 40 and 56, bit 3 requires MPPE, bit 4
// allows stateful mode.
func ccpPolicy(keyBits int, stateful bool) byte {
	var p byte
	switch keyBits {
	case 0:
		return 0
	case 40:
		p = 1 | 2
	case 56:
		p = 1 | 4
	}
	p |= 8
	if stateful {
		p |= 16
	}
	return p
}
