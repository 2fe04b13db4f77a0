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

// GRESocket is a raw IPv4 socket for IP protocol 47. The kernel hands it
// every GRE packet addressed to the host, IP header included, and adds the
// IP header to what we send. Reads and writes move batches of packets with
// recvmmsg and sendmmsg; the file descriptor is non-blocking and parked on
// Go's netpoller while there is nothing to do.
type GRESocket struct {
	file   *os.File
	rc     syscall.RawConn
	closed atomic.Bool
}

// ListenGRE opens a raw GRE socket. With a valid local address it is bound
// to it, so that only packets to that address arrive and ours leave from
// it. With a valid remote address it is connected, so that the kernel
// drops GRE from anyone else (the client side).
func ListenGRE(local, remote netip.Addr) (*GRESocket, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_GRE)
	if err != nil {
		return nil, fmt.Errorf("open raw GRE socket: %w (it needs CAP_NET_RAW)", err)
	}
	// Big buffers absorb bursts while a batch is being processed.
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20)
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 8<<20)
	// Let the kernel fragment a GRE packet that meets a smaller MTU on
	// the path rather than drop it and refuse further ones with EMSGSIZE:
	// a slow tunnel beats a black hole (the inner MTU is derived from
	// the local link only).
	unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_DONT)
	if local.IsValid() && !local.IsUnspecified() {
		if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: local.As4()}); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("bind raw GRE socket to %v: %w", local, err)
		}
	}
	if remote.IsValid() {
		if err := unix.Connect(fd, &unix.SockaddrInet4{Addr: remote.As4()}); err != nil {
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
	return &GRESocket{file: f, rc: rc}, nil
}

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
	names []unix.RawSockaddrInet4
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
		names: make([]unix.RawSockaddrInet4, len(bufs))}
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
		r.hdrs[i].hdr.Namelen = unix.SizeofSockaddrInet4
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
// received. sizes[i] is the length of packet i (IP header included), or
// -1 when it did not fit its buffer and was truncated.
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

// Message is one packet to send: the GRE packet and its destination.
type Message struct {
	Buf []byte
	Dst netip.Addr
}

// BatchWriter sends batches of packets through a GRESocket. Like
// BatchReader it belongs to one goroutine.
type BatchWriter struct {
	s     *GRESocket
	hdrs  []mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrInet4
	todo  int // messages still to send in the current call
	done  int
	err   error
	fn    func(fd uintptr) bool
	// Dropped counts packets the kernel refused (no route, too big, ...).
	Dropped uint64
}

// NewWriter returns a writer for batches of up to n packets.
func (s *GRESocket) NewWriter(n int) *BatchWriter {
	w := &BatchWriter{s: s, hdrs: make([]mmsghdr, n), iovs: make([]unix.Iovec, n), names: make([]unix.RawSockaddrInet4, n)}
	for i := range w.hdrs {
		w.hdrs[i].hdr.Iov = &w.iovs[i]
		w.hdrs[i].hdr.SetIovlen(1)
		w.hdrs[i].hdr.Name = (*byte)(unsafe.Pointer(&w.names[i]))
		w.hdrs[i].hdr.Namelen = unix.SizeofSockaddrInet4
		w.names[i].Family = unix.AF_INET
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

// Write sends msgs (at most Cap of them) and returns when all were handed
// to the kernel or dropped.
func (w *BatchWriter) Write(msgs []Message) error {
	if len(msgs) == 0 {
		return nil
	}
	if len(msgs) > len(w.hdrs) {
		return errors.New("datapath: batch larger than the writer")
	}
	for i, m := range msgs {
		w.iovs[i].Base = &m.Buf[0]
		w.iovs[i].SetLen(len(m.Buf))
		w.names[i].Addr = m.Dst.As4()
	}
	w.todo, w.done, w.err = len(msgs), 0, nil
	if err := w.s.rc.Write(w.fn); err != nil {
		return w.s.check(err)
	}
	return w.s.check(w.err)
}
