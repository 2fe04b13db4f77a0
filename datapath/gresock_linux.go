package datapath

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// mmsghdr is struct mmsghdr of recvmmsg(2)/sendmmsg(2). Go pads it to the
// kernel's layout because unix.Msghdr holds pointers.
type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
}

// GRESocket is a raw socket for IP protocol 47 (GRE), IPv4 or IPv6. An
// IPv4 socket receives every GRE packet addressed to the host with its IP
// header; an IPv6 socket receives the packet from the GRE header on, the
// kernel having consumed the IPv6 header and its extension headers, and the
// sender only in the address recvmmsg returns. On both the kernel adds the
// IP header to what we send. Reads and writes move batches of packets with
// recvmmsg and sendmmsg; the file descriptor is non-blocking and parked on
// Go's netpoller while there is nothing to do.
type GRESocket struct {
	file   *os.File
	rc     syscall.RawConn
	v6     bool
	closed atomic.Bool
}

// ListenGRE opens a raw GRE socket of the family of local or remote: IPv6
// when either is an IPv6 address (not IPv4-mapped), IPv4 otherwise. With a
// valid, specified local address it is bound to it, so that only packets to
// that address arrive and ours leave from it. With a valid remote address
// it is connected, so that the kernel drops GRE from anyone else (the
// client side). Addresses of both families at once are an error.
func ListenGRE(local, remote netip.Addr) (*GRESocket, error) {
	local, remote = local.Unmap(), remote.Unmap()
	v6 := local.Is6() || remote.Is6()
	if (local.IsValid() && local.Is6() != v6) || (remote.IsValid() && remote.Is6() != v6) {
		return nil, fmt.Errorf("raw GRE socket: local %v and remote %v are of different families", local, remote)
	}
	family := unix.AF_INET
	if v6 {
		family = unix.AF_INET6
	}
	fd, err := unix.Socket(family, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_GRE)
	if err != nil {
		return nil, fmt.Errorf("open raw GRE socket (%s): %w (it needs CAP_NET_RAW)", familyName(v6), err)
	}
	// Big buffers absorb bursts while a batch is being processed.
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20)
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 8<<20)
	if !v6 {
		// Let the kernel fragment a GRE packet that meets a smaller
		// MTU on the path rather than drop it and refuse further ones
		// with EMSGSIZE: a slow tunnel beats a black hole (the inner
		// MTU is derived from the local link only). IPv6 keeps the
		// default: routers never fragment, so the kernel fragments
		// here to the path MTU it learnt, which is what we want.
		unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_DONT)
	}
	if local.IsValid() && !local.IsUnspecified() {
		if err := unix.Bind(fd, sockaddr(local)); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("bind raw GRE socket to %v: %w", local, err)
		}
	}
	if remote.IsValid() {
		if err := unix.Connect(fd, sockaddr(remote)); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("connect raw GRE socket to %v: %w", remote, err)
		}
	}
	f := os.NewFile(uintptr(fd), "gre")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &GRESocket{file: f, rc: rc, v6: v6}, nil
}

func familyName(v6 bool) string {
	if v6 {
		return "IPv6"
	}
	return "IPv4"
}

func sockaddr(a netip.Addr) unix.Sockaddr {
	if a.Is4() {
		return &unix.SockaddrInet4{Addr: a.As4()}
	}
	return &unix.SockaddrInet6{Addr: a.As16()}
}

// IPv6 reports whether the socket carries GRE over IPv6. Its packets then
// start at the GRE header, and the sender comes from BatchReader.Src.
func (s *GRESocket) IPv6() bool { return s.v6 }

// Close closes the socket; blocked reads and writes return os.ErrClosed.
func (s *GRESocket) Close() error {
	s.closed.Store(true)
	return s.file.Close()
}

// check maps the error of an operation on a closed socket to os.ErrClosed:
// a RawConn reports it as an unexported poll error.
func (s *GRESocket) check(err error) error {
	if err != nil && s.closed.Load() {
		return os.ErrClosed
	}
	return err
}

// BatchReader reads batches of packets from a GRESocket. It owns the
// kernel-facing arrays, so each reading goroutine has its own and a read
// allocates nothing.
type BatchReader struct {
	s     *GRESocket
	hdrs  []mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrInet6 // big enough for either family
	bufs  [][]byte
	n     int
	err   error
	fn    func(fd uintptr) bool
}

// NewReader returns a reader for batches of up to len(bufs) packets, each
// received into the corresponding buffer.
func (s *GRESocket) NewReader(bufs [][]byte) *BatchReader {
	r := &BatchReader{s: s, bufs: bufs,
		hdrs: make([]mmsghdr, len(bufs)), iovs: make([]unix.Iovec, len(bufs)),
		names: make([]unix.RawSockaddrInet6, len(bufs))}
	for i := range bufs {
		r.iovs[i].Base = &bufs[i][0]
		r.iovs[i].SetLen(len(bufs[i]))
		r.hdrs[i].hdr.Iov = &r.iovs[i]
		r.hdrs[i].hdr.SetIovlen(1)
		r.hdrs[i].hdr.Name = (*byte)(unsafe.Pointer(&r.names[i]))
	}
	r.fn = r.recv
	return r
}

func (r *BatchReader) recv(fd uintptr) bool {
	for i := range r.hdrs {
		r.hdrs[i].hdr.Namelen = unix.SizeofSockaddrInet6
		r.hdrs[i].hdr.Flags = 0
	}
	n, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&r.hdrs[0])), uintptr(len(r.hdrs)), unix.MSG_DONTWAIT, 0, 0)
	if errno == unix.EAGAIN || errno == unix.EINTR {
		return false
	}
	r.n, r.err = int(n), nil
	if errno != 0 {
		r.n, r.err = 0, errno
	}
	return true
}

// Read blocks until at least one packet arrives and returns how many were
// received. sizes[i] is the length of packet i (IPv4 header included on
// an IPv4 socket, from the GRE header on an IPv6 one), or -1 when it did
// not fit its buffer and was truncated.
func (r *BatchReader) Read(sizes []int) (int, error) {
	if err := r.s.rc.Read(r.fn); err != nil {
		return 0, r.s.check(err)
	}
	if r.err != nil {
		return 0, r.err
	}
	for i := 0; i < r.n; i++ {
		sizes[i] = int(r.hdrs[i].len)
		if r.hdrs[i].hdr.Flags&unix.MSG_TRUNC != 0 {
			sizes[i] = -1
		}
	}
	return r.n, nil
}

// Src returns the sender of packet i of the last Read: the address
// recvmmsg filled in, the only place an IPv6 socket tells it. It is the
// invalid Addr when the kernel gave none of the socket's family.
func (r *BatchReader) Src(i int) netip.Addr {
	if i < 0 || i >= r.n {
		return netip.Addr{}
	}
	n := &r.names[i]
	switch {
	case r.s.v6 && n.Family == unix.AF_INET6 && r.hdrs[i].hdr.Namelen >= unix.SizeofSockaddrInet6:
		return netip.AddrFrom16(n.Addr)
	case !r.s.v6 && n.Family == unix.AF_INET && r.hdrs[i].hdr.Namelen >= unix.SizeofSockaddrInet4:
		return netip.AddrFrom4((*unix.RawSockaddrInet4)(unsafe.Pointer(n)).Addr)
	}
	return netip.Addr{}
}

// Message is one packet to send: the GRE packet, its destination and,
// when valid and not unspecified, its source address (IP_PKTINFO or
// IPV6_PKTINFO), which must be one of the host's.
type Message struct {
	Buf []byte
	Dst netip.Addr
	Src netip.Addr
}

// BatchWriter sends batches of packets through a GRESocket. Like
// BatchReader it belongs to one goroutine.
type BatchWriter struct {
	s     *GRESocket
	hdrs  []mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrInet6 // or RawSockaddrInet4 in front, by family
	ctl   [][]byte                // per message: the PKTINFO for Src
	todo  int                     // messages still to send in the current call
	done  int
	err   error
	fn    func(fd uintptr) bool
	// Dropped counts packets the kernel refused (no route, too big, ...).
	Dropped uint64
}

// NewWriter returns a writer for batches of up to n packets.
func (s *GRESocket) NewWriter(n int) *BatchWriter {
	w := &BatchWriter{s: s, hdrs: make([]mmsghdr, n), iovs: make([]unix.Iovec, n), names: make([]unix.RawSockaddrInet6, n)}
	w.ctl = make([][]byte, n)
	for i := range w.hdrs {
		w.ctl[i] = make([]byte, unix.CmsgSpace(unix.SizeofInet6Pktinfo))
		w.hdrs[i].hdr.Iov = &w.iovs[i]
		w.hdrs[i].hdr.SetIovlen(1)
		w.hdrs[i].hdr.Name = (*byte)(unsafe.Pointer(&w.names[i]))
		if s.v6 {
			w.hdrs[i].hdr.Namelen = unix.SizeofSockaddrInet6
			w.names[i].Family = unix.AF_INET6
		} else {
			w.hdrs[i].hdr.Namelen = unix.SizeofSockaddrInet4
			w.names[i].Family = unix.AF_INET
		}
	}
	w.fn = w.send
	return w
}

// Cap returns the largest batch the writer takes.
func (w *BatchWriter) Cap() int { return len(w.hdrs) }

func (w *BatchWriter) send(fd uintptr) bool {
	for w.done < w.todo {
		n, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&w.hdrs[w.done])), uintptr(w.todo-w.done), unix.MSG_DONTWAIT, 0, 0)
		switch {
		case errno == unix.EAGAIN:
			return false
		case errno == unix.EINTR:
			continue
		case errno != 0:
			// The first remaining packet was refused (EMSGSIZE,
			// ENETUNREACH, EPERM from a firewall...): count it and go
			// on with the rest, as a lossy link would.
			if errno == unix.EBADF {
				w.err = errno
				return true
			}
			w.Dropped++
			w.done++
		default:
			w.done += int(n)
		}
	}
	return true
}

// setSource puts the source address src into message i's control data,
// or none when src is not a usable address of the socket's family.
func (w *BatchWriter) setSource(i int, src netip.Addr) {
	h := &w.hdrs[i].hdr
	if !src.IsValid() || src.IsUnspecified() || src.Is6() != w.s.v6 {
		h.Control = nil
		h.SetControllen(0)
		return
	}
	b := w.ctl[i]
	clear(b)
	cm := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
	data := b[unix.CmsgLen(0):]
	if w.s.v6 {
		cm.Level, cm.Type = unix.IPPROTO_IPV6, unix.IPV6_PKTINFO
		cm.SetLen(unix.CmsgLen(unix.SizeofInet6Pktinfo))
		(*unix.Inet6Pktinfo)(unsafe.Pointer(&data[0])).Addr = src.As16()
		h.SetControllen(unix.CmsgSpace(unix.SizeofInet6Pktinfo))
	} else {
		cm.Level, cm.Type = unix.IPPROTO_IP, unix.IP_PKTINFO
		cm.SetLen(unix.CmsgLen(unix.SizeofInet4Pktinfo))
		(*unix.Inet4Pktinfo)(unsafe.Pointer(&data[0])).Spec_dst = src.As4()
		h.SetControllen(unix.CmsgSpace(unix.SizeofInet4Pktinfo))
	}
	h.Control = &b[0]
}

// Write sends msgs (at most Cap of them) and returns when all were handed
// to the kernel or dropped. A message that is empty or whose destination
// is not of the socket's family is dropped and counted.
func (w *BatchWriter) Write(msgs []Message) error {
	if len(msgs) == 0 {
		return nil
	}
	if len(msgs) > len(w.hdrs) {
		return errors.New("datapath: batch larger than the writer")
	}
	n := 0
	for _, m := range msgs {
		dst := m.Dst.Unmap()
		if len(m.Buf) == 0 || !dst.IsValid() || dst.Is6() != w.s.v6 {
			w.Dropped++
			continue
		}
		w.iovs[n].Base = &m.Buf[0]
		w.iovs[n].SetLen(len(m.Buf))
		if w.s.v6 {
			w.names[n].Addr = dst.As16()
		} else {
			(*unix.RawSockaddrInet4)(unsafe.Pointer(&w.names[n])).Addr = dst.As4()
		}
		w.setSource(n, m.Src.Unmap())
		n++
	}
	if n == 0 {
		return nil
	}
	w.todo, w.done, w.err = n, 0, nil
	if err := w.s.rc.Write(w.fn); err != nil {
		return w.s.check(err)
	}
	return w.s.check(w.err)
}
