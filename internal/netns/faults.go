package netns

import (
	"container/heap"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The kernel has no netem here, so faults on a path come from a user-space
// forwarder: ConnectFaulty puts a third namespace, the wire, between two
// hosts. Each host sees an ordinary veth link with its address; the other
// end of each veth lies in the wire namespace, without addresses, where a
// packet socket per side reads every frame and writes it, or not, to the
// other side. The hosts cannot tell the wire from a direct link except by
// what it does to their frames.
//
// The packet sockets use virtio-net headers (PACKET_VNET_HDR), which carry
// the checksum-offload and segmentation state of each frame across: a TCP
// segment whose checksum the sending host left to the "hardware" arrives
// intact, and a TSO super-frame is passed on whole. Such a super-frame
// counts as one frame for the faults; the raw GRE packets of a tunnel are
// never merged, so each is a frame of its own.

// ProtoGRE is the IP protocol number of GRE, for Faults.Proto.
const ProtoGRE = 47

// Defaults for Faults fields left zero.
const (
	// DefaultReorderGap is how many later frames overtake a frame held
	// back for reordering.
	DefaultReorderGap = 3
	// DefaultReorderWait bounds how long a frame held back for reordering
	// waits for the frames that are to overtake it.
	DefaultReorderWait = 20 * time.Millisecond
)

// Faults say what a Wire does to the frames it forwards in one direction.
// The zero value forwards every frame unharmed at once.
type Faults struct {
	// Loss is the probability that a frame is dropped.
	Loss float64
	// Duplicate is the probability that a frame is sent twice.
	Duplicate float64
	// Reorder is the probability that a frame (each copy of a duplicated
	// one) is held back until ReorderGap later frames have gone ahead of
	// it, or ReorderWait has passed.
	Reorder     float64
	ReorderGap  int           // 0: DefaultReorderGap
	ReorderWait time.Duration // 0: DefaultReorderWait
	// Delay holds every frame back this long, give or take a uniformly
	// random Jitter; with jitter, frames overtake each other.
	Delay, Jitter time.Duration
	// Proto limits the faults above to IPv4 packets of this IP protocol
	// (ProtoGRE: only the tunnel's data path, not its TCP control
	// connection or ARP); other frames pass unharmed. 0: every frame.
	Proto uint8
	// Cut drops every frame, whatever Proto says: the cable is cut, or the
	// peer is gone, while both hosts keep their links up.
	Cut bool
	// Seed seeds the random decisions. Each direction has its own
	// generator, seeded again whenever the faults are set, so the same
	// sequence of frames meets the same fate.
	Seed uint64
}

func (f Faults) String() string {
	if f.Cut {
		return "cut"
	}
	s := fmt.Sprintf("loss %.1f%%, duplicate %.1f%%, reorder %.1f%%", f.Loss*100, f.Duplicate*100, f.Reorder*100)
	if f.Delay > 0 || f.Jitter > 0 {
		s += fmt.Sprintf(", delay %v±%v", f.Delay, f.Jitter)
	}
	if f.Proto != 0 {
		s += fmt.Sprintf(", IP protocol %d only", f.Proto)
	}
	return s
}

func (f Faults) check() error {
	for _, p := range []float64{f.Loss, f.Duplicate, f.Reorder} {
		if p < 0 || p > 1 || p != p {
			return fmt.Errorf("probability %v outside [0, 1]", p)
		}
	}
	if f.Delay < 0 || f.Jitter < 0 || f.ReorderGap < 0 || f.ReorderWait < 0 {
		return errors.New("negative delay, jitter or reorder setting")
	}
	return nil
}

// Direction is one way through a Wire.
type Direction int

// The directions of a Wire between hosts a and b of ConnectFaulty.
const (
	AtoB Direction = iota
	BtoA
)

func (d Direction) String() string {
	if d == AtoB {
		return "a->b"
	}
	return "b->a"
}

// Side names an end of a Wire: the link towards a or towards b.
type Side int

// The sides of a Wire.
const (
	SideA Side = iota
	SideB
)

// WireStats count what one direction of a Wire did.
type WireStats struct {
	Received   uint64 // frames read from the sending side
	Sent       uint64 // frames written to the receiving side, duplicates included
	Matched    uint64 // frames subject to the faults (Faults.Proto)
	Lost       uint64 // dropped for Faults.Loss
	Cut        uint64 // dropped because the wire was cut
	Duplicated uint64 // frames sent twice
	Reordered  uint64 // frames held back for later ones to overtake
	Delayed    uint64 // frames held back for Faults.Delay and Jitter
	// SendErrors counts frames the kernel refused to send (the receiving
	// link is gone or its queue full); KernelDrops frames the kernel
	// dropped before the wire read them (socket buffer full). Both are
	// loss the faults did not ask for.
	SendErrors  uint64
	KernelDrops uint64
}

func (s WireStats) String() string {
	return fmt.Sprintf("received %d, sent %d, matched %d, lost %d, cut %d, duplicated %d, reordered %d, delayed %d, send errors %d, kernel drops %d",
		s.Received, s.Sent, s.Matched, s.Lost, s.Cut, s.Duplicated, s.Reordered, s.Delayed, s.SendErrors, s.KernelDrops)
}

// Wire is the faulty link ConnectFaulty builds. Its methods are safe for
// concurrent use.
type Wire struct {
	host     *Host
	aIf, bIf string    // the endpoints' interfaces, in a and b
	wIf      [2]string // the wire's interfaces, towards a and towards b
	socks    [2]*packetSock
	dirs     [2]*wireDir
	done     chan struct{}
	wg       sync.WaitGroup
	stopOnce sync.Once
}

// TapFunc sees a frame the wire delivered in direction d: the Ethernet
// frame, starting with the destination MAC address. It runs on the
// forwarder's goroutine, must not block and must not keep frame.
type TapFunc func(d Direction, frame []byte)

// ConnectFaulty links a and b like Connect, through a wire namespace whose
// forwarder applies faults to the frames in both directions (f for each;
// see SetFaults). It returns the wire; Wire.AIf and Wire.BIf name the
// interfaces in a and b. Everything is torn down at cleanup.
func ConnectFaulty(tb testing.TB, a, b *Host, aAddr, bAddr netip.Prefix, f Faults) *Wire {
	tb.Helper()
	w, err := connectFaulty(tb, a, b, aAddr, bAddr, f)
	if err != nil {
		tb.Fatalf("netns: faulty connect %v and %v: %v", a, b, err)
		return nil
	}
	return w
}

func connectFaulty(tb testing.TB, a, b *Host, aAddr, bAddr netip.Prefix, f Faults) (*Wire, error) {
	switch {
	case a == nil || b == nil:
		return nil, errors.New("nil host")
	case a == b:
		return nil, errors.New("cannot connect a host to itself")
	case !aAddr.IsValid() || !bAddr.IsValid():
		return nil, fmt.Errorf("invalid address %v or %v", aAddr, bAddr)
	}
	if err := f.check(); err != nil {
		return nil, err
	}
	host := NewHost(tb, "wire")
	// The wire must not speak: no IPv6 link-local addresses, router
	// solicitations or MLD reports of its own on either side.
	for _, k := range []string{"net/ipv6/conf/all/disable_ipv6", "net/ipv6/conf/default/disable_ipv6"} {
		_ = host.SetSysctl(k, "1") // absent without IPv6, which is fine
	}
	w := &Wire{host: host, done: make(chan struct{})}
	var err error
	if w.aIf, w.wIf[SideA], err = connectToWire(tb, a, b, host, aAddr); err != nil {
		return nil, err
	}
	if w.bIf, w.wIf[SideB], err = connectToWire(tb, b, a, host, bAddr); err != nil {
		return nil, err
	}
	for s := range w.socks {
		ps, err := openPacketSock(host, w.wIf[s])
		if err != nil {
			w.closeSocks()
			return nil, err
		}
		w.socks[s] = ps
	}
	for d := range w.dirs {
		in, out := w.socks[SideA], w.socks[SideB]
		if Direction(d) == BtoA {
			in, out = out, in
		}
		w.dirs[d] = newWireDir(Direction(d), in, out, f)
	}
	// Registered after the namespaces' cleanups, so it runs before them.
	tb.Cleanup(w.stop)
	for _, d := range w.dirs {
		w.wg.Add(2)
		go func() { defer w.wg.Done(); d.readLoop(w.done) }()
		go func() { defer w.wg.Done(); d.timerLoop(w.done) }()
	}
	return w, nil
}

// connectToWire makes a veth pair between h (named after its real peer,
// as Connect names it) and the wire, gives h's end addr and brings both
// up. It returns the interface names in h and in the wire.
func connectToWire(tb testing.TB, h, peer, wire *Host, addr netip.Prefix) (string, string, error) {
	hIf, wIf := h.nextLinkName(peer), wire.nextLinkName(h)
	if _, err := runTool("ip", "-n", h.name, "link", "add", hIf, "type", "veth", "peer", "name", wIf, "netns", wire.name); err != nil {
		return "", "", err
	}
	tb.Cleanup(func() {
		if _, err := runTool("ip", "-n", wire.name, "link", "show", "dev", wIf); err != nil {
			return // unplugged, or gone with its namespace
		}
		if _, err := runTool("ip", "-n", wire.name, "link", "del", wIf); err != nil {
			tb.Errorf("netns: cleanup of %s in %v: %v", wIf, wire, err)
		}
	})
	if err := setupEnd(h, hIf, addr); err != nil {
		return "", "", err
	}
	if _, err := runTool("ip", "-n", wire.name, "link", "set", "dev", wIf, "promisc", "on", "up"); err != nil {
		return "", "", err
	}
	for _, end := range []struct {
		h    *Host
		name string
	}{{h, hIf}, {wire, wIf}} {
		if err := waitRunning(end.h, end.name); err != nil {
			return "", "", err
		}
	}
	return hIf, wIf, nil
}

// Host returns the wire's namespace.
func (w *Wire) Host() *Host { return w.host }

// AIf returns the name of the interface in host a.
func (w *Wire) AIf() string { return w.aIf }

// BIf returns the name of the interface in host b.
func (w *Wire) BIf() string { return w.bIf }

// SetFaults applies f to both directions from now on. It panics on
// probabilities outside [0, 1] or negative durations.
func (w *Wire) SetFaults(f Faults) {
	w.SetDirFaults(AtoB, f)
	w.SetDirFaults(BtoA, f)
}

// SetDirFaults applies f to direction d from now on.
func (w *Wire) SetDirFaults(d Direction, f Faults) {
	if err := f.check(); err != nil {
		panic("netns: SetDirFaults: " + err.Error())
	}
	w.dirs[d].setFaults(f)
}

// Faults returns the faults of direction d.
func (w *Wire) Faults(d Direction) Faults {
	dir := w.dirs[d]
	dir.mu.Lock()
	defer dir.mu.Unlock()
	return dir.faults
}

// Cut cuts the wire (on) or mends it, in both directions, keeping the
// other faults.
func (w *Wire) Cut(on bool) {
	for _, d := range w.dirs {
		d.mu.Lock()
		d.faults.Cut = on
		d.mu.Unlock()
	}
}

// Tap calls fn with every frame the wire delivers from now on, in either
// direction (nil stops it): what the receiving host gets, duplicates
// included, lost frames not.
func (w *Wire) Tap(fn TapFunc) {
	for _, d := range w.dirs {
		d.mu.Lock()
		d.tap = fn
		d.mu.Unlock()
	}
}

// Stats returns the counters of direction d.
func (w *Wire) Stats(d Direction) WireStats {
	return w.dirs[d].snapshot()
}

// Unplug deletes the veth pair on side s, as "ip link del" would: the
// host on that side loses its interface, while the host on the other side
// keeps a working link that leads nowhere.
func (w *Wire) Unplug(s Side) error {
	_, err := runTool("ip", "-n", w.host.name, "link", "del", w.wIf[s])
	return err
}

func (w *Wire) stop() {
	w.stopOnce.Do(func() {
		close(w.done)
		w.closeSocks()
		w.wg.Wait()
	})
}

func (w *Wire) closeSocks() {
	for _, s := range w.socks {
		if s != nil {
			s.f.Close()
		}
	}
}

// vnetHdrLen is the size of struct virtio_net_hdr, which precedes every
// frame on a socket with PACKET_VNET_HDR.
const vnetHdrLen = 10

// packetSock is an AF_PACKET socket bound to one interface, in
// non-blocking mode under the runtime's poller so that Close interrupts
// a blocked read.
type packetSock struct {
	f  *os.File
	rc syscall.RawConn

	statsMu sync.Mutex
	drops   uint64 // PACKET_STATISTICS drops, accumulated
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// openPacketSock opens a packet socket on ifName inside h.
func openPacketSock(h *Host, ifName string) (*packetSock, error) {
	var fd int
	err := h.Do(func() error {
		ifi, err := net.InterfaceByName(ifName)
		if err != nil {
			return err
		}
		// Protocol 0 receives nothing until bind names the interface,
		// so no frame of another interface slips in.
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("packet socket: %w", err)
		}
		for _, o := range []struct {
			level, opt, val int
			name            string
		}{
			{unix.SOL_PACKET, unix.PACKET_VNET_HDR, 1, "PACKET_VNET_HDR"},
			// Our own writes to the interface must not come back.
			{unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1, "PACKET_IGNORE_OUTGOING"},
			{unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8 << 20, "SO_RCVBUFFORCE"},
			{unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 4 << 20, "SO_SNDBUFFORCE"},
		} {
			if err := unix.SetsockoptInt(fd, o.level, o.opt, o.val); err != nil {
				unix.Close(fd)
				return fmt.Errorf("%s on %s: %w", o.name, ifName, err)
			}
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index}); err != nil {
			unix.Close(fd)
			return fmt.Errorf("binding to %s: %w", ifName, err)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%v: %w", h, err)
	}
	f := os.NewFile(uintptr(fd), "packet:"+ifName)
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &packetSock{f: f, rc: rc}, nil
}

// read reads one frame, virtio-net header included.
func (s *packetSock) read(buf []byte) (int, error) {
	var n int
	var rerr error
	err := s.rc.Read(func(fd uintptr) bool {
		n, rerr = unix.Read(int(fd), buf)
		return rerr != unix.EAGAIN
	})
	if err != nil {
		return 0, err
	}
	return n, rerr
}

// write sends one frame, virtio-net header included.
func (s *packetSock) write(frame []byte) error {
	var werr error
	err := s.rc.Write(func(fd uintptr) bool {
		_, werr = unix.Write(int(fd), frame)
		return werr != unix.EAGAIN
	})
	if err != nil {
		return err
	}
	return werr
}

// kernelDrops returns the frames the kernel dropped for the socket so far.
func (s *packetSock) kernelDrops() uint64 {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	_ = s.rc.Control(func(fd uintptr) {
		// Reading the statistics resets them, hence the accumulation.
		if st, err := unix.GetsockoptTpacketStats(int(fd), unix.SOL_PACKET, unix.PACKET_STATISTICS); err == nil {
			s.drops += uint64(st.Drops)
		}
	})
	return s.drops
}

// wireDir forwards one direction. The read loop decides each frame's fate
// and sends what can go at once; the timer loop sends delayed frames and
// releases held ones whose wait is over. Both work under mu.
type wireDir struct {
	dir     Direction
	in, out *packetSock
	kick    chan struct{}

	mu      sync.Mutex
	faults  Faults
	rng     *rand.Rand
	pending frameHeap // delayed frames by due time
	held    []*heldFrame
	seq     uint64 // orders frames due at the same time
	tap     TapFunc

	received, sent, matched, lost, cut, duplicated, reordered, delayed, sendErrors atomic.Uint64
}

type timedFrame struct {
	due   time.Time
	seq   uint64
	frame []byte
}

type heldFrame struct {
	frame    []byte
	gap      int       // frames still to overtake it
	deadline time.Time // when it goes anyway
}

func newWireDir(d Direction, in, out *packetSock, f Faults) *wireDir {
	w := &wireDir{dir: d, in: in, out: out, kick: make(chan struct{}, 1)}
	w.setFaults(f)
	return w
}

func (d *wireDir) setFaults(f Faults) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.faults = f
	d.rng = rand.New(rand.NewPCG(f.Seed, uint64(d.dir)+1))
}

func (d *wireDir) snapshot() WireStats {
	return WireStats{
		Received: d.received.Load(), Sent: d.sent.Load(), Matched: d.matched.Load(),
		Lost: d.lost.Load(), Cut: d.cut.Load(), Duplicated: d.duplicated.Load(),
		Reordered: d.reordered.Load(), Delayed: d.delayed.Load(), SendErrors: d.sendErrors.Load(),
		KernelDrops: d.in.kernelDrops(),
	}
}

func (d *wireDir) readLoop(done <-chan struct{}) {
	buf := make([]byte, vnetHdrLen+65536+64)
	for {
		n, err := d.in.read(buf)
		if err != nil {
			select {
			case <-done:
				return // the socket was closed
			default:
			}
			// ENETDOWN when the interface went down or was deleted:
			// the next read waits, harmlessly, until it comes back or
			// the wire is stopped. The pause keeps any persistent error
			// from spinning.
			time.Sleep(time.Millisecond)
			continue
		}
		if n <= vnetHdrLen {
			continue
		}
		d.received.Add(1)
		d.handle(buf[:n], time.Now())
	}
}

// matches reports whether frame (virtio-net header first) is subject to
// the faults.
func (f *Faults) matches(frame []byte) bool {
	if f.Proto == 0 {
		return true
	}
	eth := frame[vnetHdrLen:]
	return len(eth) >= 14+20 && binary.BigEndian.Uint16(eth[12:14]) == 0x0800 && eth[14]>>4 == 4 && eth[14+9] == f.Proto
}

func (d *wireDir) handle(frame []byte, now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	f := &d.faults
	if f.Cut {
		d.cut.Add(1)
		return
	}
	if !f.matches(frame) {
		d.send(frame)
		return
	}
	d.matched.Add(1)
	if f.Loss > 0 && d.rng.Float64() < f.Loss {
		d.lost.Add(1)
		return
	}
	copies := 1
	if f.Duplicate > 0 && d.rng.Float64() < f.Duplicate {
		copies = 2
		d.duplicated.Add(1)
	}
	kick := false
	for range copies {
		delay := f.Delay
		if f.Jitter > 0 {
			delay += time.Duration(d.rng.Int64N(int64(2*f.Jitter)+1)) - f.Jitter
		}
		delay = max(delay, 0)
		if f.Reorder > 0 && d.rng.Float64() < f.Reorder {
			gap := f.ReorderGap
			if gap == 0 {
				gap = DefaultReorderGap
			}
			wait := f.ReorderWait
			if wait == 0 {
				wait = DefaultReorderWait
			}
			d.reordered.Add(1)
			d.held = append(d.held, &heldFrame{frame: append([]byte(nil), frame...), gap: gap, deadline: now.Add(delay + wait)})
			kick = true
			continue
		}
		if delay > 0 {
			d.delayed.Add(1)
			d.seq++
			heap.Push(&d.pending, &timedFrame{due: now.Add(delay), seq: d.seq, frame: append([]byte(nil), frame...)})
			kick = true
			continue
		}
		d.send(frame)
	}
	if kick {
		select {
		case d.kick <- struct{}{}:
		default:
		}
	}
}

// send writes a frame to the receiving side and lets it overtake the
// frames held back for reordering, releasing those it was the last to
// overtake. Called with mu held.
func (d *wireDir) send(frame []byte) {
	d.write(frame)
	if len(d.held) == 0 {
		return
	}
	kept := d.held[:0]
	var release []*heldFrame
	for _, h := range d.held {
		if h.gap--; h.gap <= 0 {
			release = append(release, h)
		} else {
			kept = append(kept, h)
		}
	}
	clear(d.held[len(kept):])
	d.held = kept
	for _, h := range release {
		d.write(h.frame)
	}
}

func (d *wireDir) write(frame []byte) {
	if err := d.out.write(frame); err != nil {
		d.sendErrors.Add(1)
		return
	}
	d.sent.Add(1)
	if d.tap != nil {
		d.tap(d.dir, frame[vnetHdrLen:])
	}
}

// timerLoop sends delayed frames when they are due and held frames whose
// wait is over.
func (d *wireDir) timerLoop(done <-chan struct{}) {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		d.mu.Lock()
		now := time.Now()
		for d.pending.Len() > 0 && !d.pending[0].due.After(now) {
			tf := heap.Pop(&d.pending).(*timedFrame)
			d.send(tf.frame)
		}
		var next time.Time
		kept := d.held[:0]
		for _, h := range d.held {
			if !h.deadline.After(now) {
				d.write(h.frame)
				continue
			}
			kept = append(kept, h)
			if next.IsZero() || h.deadline.Before(next) {
				next = h.deadline
			}
		}
		clear(d.held[len(kept):])
		d.held = kept
		if d.pending.Len() > 0 && (next.IsZero() || d.pending[0].due.Before(next)) {
			next = d.pending[0].due
		}
		d.mu.Unlock()
		wait := time.Hour
		if !next.IsZero() {
			wait = max(time.Until(next), 0)
		}
		t.Reset(wait)
		select {
		case <-done:
			return
		case <-d.kick:
		case <-t.C:
		}
	}
}

// frameHeap orders delayed frames by due time, then by arrival.
type frameHeap []*timedFrame

func (h frameHeap) Len() int { return len(h) }
func (h frameHeap) Less(i, j int) bool {
	if !h[i].due.Equal(h[j].due) {
		return h[i].due.Before(h[j].due)
	}
	return h[i].seq < h[j].seq
}
func (h frameHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *frameHeap) Push(x any)   { *h = append(*h, x.(*timedFrame)) }
func (h *frameHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return x
}
