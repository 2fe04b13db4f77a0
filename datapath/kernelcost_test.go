package datapath

import (
	"encoding/binary"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/gopptp/gopptp/internal/netns"
)

// BenchmarkKernelPath measures what the kernel charges for moving one
// 1400-byte tunnel packet across a veth pair between two namespaces, the
// link bench/throughput.sh uses, so that the data plane's figures can be
// read against the floor they stand on:
//
//   - gre-sendmmsg: our raw GRE socket, batches of 46 (what one TSO
//     super-packet from the TUN device becomes), drained by a raw GRE
//     socket on the other side.
//   - udp-sendmmsg: the same with UDP datagrams, for comparison: per
//     packet, UDP is not cheaper than raw GRE.
//   - udp-gso: one UDP send of 46 segments with UDP_SEGMENT, received with
//     UDP_GRO; the veth carries it as one buffer. This is what
//     wireguard-go does, and what no raw IP socket can: the kernel has no
//     segmentation offload for GRE with a sequence number per packet.
//
// cpu-ns/pkt is the process's CPU time (user and system: sending,
// receiving, and the receiving namespace's softirq work, which runs in the
// sender's system call) per 1400-byte packet. Needs root.
func BenchmarkKernelPath(b *testing.B) {
	netns.RequireRoot(b)
	ha, hb := netns.NewHost(b, "kca"), netns.NewHost(b, "kcb")
	aAddr, bAddr := netip.MustParsePrefix("10.91.0.1/24"), netip.MustParsePrefix("10.91.0.2/24")
	netns.Connect(b, ha, hb, aAddr, bAddr)
	const size, batch = 1400, 46

	b.Run("gre-sendmmsg", func(b *testing.B) {
		var tx, rx *GRESocket
		if err := ha.Do(func() (err error) { tx, err = ListenGRE(aAddr.Addr(), netip.Addr{}); return err }); err != nil {
			b.Fatal(err)
		}
		defer tx.Close()
		if err := hb.Do(func() (err error) { rx, err = ListenGRE(bAddr.Addr(), netip.Addr{}); return err }); err != nil {
			b.Fatal(err)
		}
		defer rx.Close()
		go func() {
			bufs := make([][]byte, batchSize)
			for i := range bufs {
				bufs[i] = make([]byte, rxBufSize)
			}
			r, sizes := rx.NewReader(bufs), make([]int, batchSize)
			for {
				if _, err := r.Read(sizes); err != nil {
					return
				}
			}
		}()
		w := tx.NewWriter(batch)
		msgs := make([]Message, batch)
		for i := range msgs {
			pkt := make([]byte, 16+size)
			binary.BigEndian.PutUint32(pkt, 0x3081880b) // enhanced GRE, S and K, PPP
			binary.BigEndian.PutUint16(pkt[4:], size)
			msgs[i] = Message{Buf: pkt, Dst: bAddr.Addr(), Src: aAddr.Addr()}
		}
		measureKernel(b, size, batch, func(n int) {
			if err := w.Write(msgs[:n]); err != nil {
				b.Fatal(err)
			}
		})
	})

	udp := func(b *testing.B, gso bool) {
		var tx, rx net.PacketConn
		tx = ha.ListenPacket(b, "udp4", netip.AddrPortFrom(aAddr.Addr(), 0).String())
		rx = hb.ListenPacket(b, "udp4", netip.AddrPortFrom(bAddr.Addr(), 0).String())
		defer tx.Close()
		defer rx.Close()
		rc, err := rx.(*net.UDPConn).SyscallConn()
		if err != nil {
			b.Fatal(err)
		}
		rc.Control(func(fd uintptr) {
			unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20)
			if gso {
				unix.SetsockoptInt(int(fd), unix.SOL_UDP, unix.UDP_GRO, 1)
			}
		})
		go func() {
			buf := make([]byte, 65536)
			for {
				if _, _, err := rx.ReadFrom(buf); err != nil {
					return
				}
			}
		}()
		dst := net.UDPAddrFromAddrPort(rx.LocalAddr().(*net.UDPAddr).AddrPort())
		conn := tx.(*net.UDPConn)
		if gso {
			oob := make([]byte, unix.CmsgSpace(2))
			cm := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
			cm.Level, cm.Type = unix.SOL_UDP, unix.UDP_SEGMENT
			cm.SetLen(unix.CmsgLen(2))
			binary.NativeEndian.PutUint16(oob[unix.CmsgLen(0):], size)
			buf := make([]byte, batch*size)
			measureKernel(b, size, batch, func(n int) {
				if _, _, err := conn.WriteMsgUDP(buf[:n*size], oob, dst); err != nil {
					b.Fatal(err)
				}
			})
			return
		}
		bufs := make([][]byte, batch)
		for i := range bufs {
			bufs[i] = make([]byte, size)
		}
		rcw, err := conn.SyscallConn()
		if err != nil {
			b.Fatal(err)
		}
		hdrs := make([]mmsghdr, batch)
		iovs := make([]unix.Iovec, batch)
		var sa unix.RawSockaddrInet4
		sa.Family = unix.AF_INET
		sa.Addr = bAddr.Addr().As4()
		binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:], dst.AddrPort().Port())
		for i := range hdrs {
			iovs[i].Base = &bufs[i][0]
			iovs[i].SetLen(size)
			hdrs[i].hdr.Iov = &iovs[i]
			hdrs[i].hdr.SetIovlen(1)
			hdrs[i].hdr.Name = (*byte)(unsafe.Pointer(&sa))
			hdrs[i].hdr.Namelen = unix.SizeofSockaddrInet4
		}
		measureKernel(b, size, batch, func(n int) {
			for done := 0; done < n; {
				var sent uintptr
				var errno syscall.Errno
				rcw.Write(func(fd uintptr) bool {
					sent, _, errno = unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&hdrs[done])), uintptr(n-done), 0, 0, 0)
					return errno != unix.EAGAIN
				})
				if errno != 0 {
					b.Fatal(errno)
				}
				done += int(sent)
			}
		})
	}
	b.Run("udp-sendmmsg", func(b *testing.B) { udp(b, false) })
	b.Run("udp-gso", func(b *testing.B) { udp(b, true) })
}

// measureKernel calls send with batches of up to batch packets of size
// bytes until b.N packets went out, and reports the process's CPU time
// per packet.
func measureKernel(b *testing.B, size, batch int, send func(n int)) {
	b.SetBytes(int64(size))
	var r0, r1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &r0)
	b.ResetTimer()
	for done := 0; done < b.N; done += batch {
		send(min(batch, b.N-done))
	}
	b.StopTimer()
	time.Sleep(10 * time.Millisecond) // let the receiver drain what is queued
	syscall.Getrusage(syscall.RUSAGE_SELF, &r1)
	cpu := r1.Utime.Nano() - r0.Utime.Nano() + r1.Stime.Nano() - r0.Stime.Nano()
	b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/pkt")
}
