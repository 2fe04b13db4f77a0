package netns

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

const (
	// pingInterval is the gap between echo requests.
	pingInterval = 200 * time.Millisecond
	// pingPayload is the echo payload size, that of ping(8).
	pingPayload = 56

	protoICMP   = 1
	protoICMPv6 = 58
)

// Ping sends count ICMP echo requests from h to dst, one every 200 ms, and
// fails the test unless every reply arrives within timeout of its request.
// It logs a summary.
func Ping(tb testing.TB, from *Host, dst netip.Addr, count int, timeout time.Duration) {
	tb.Helper()
	rtts := PingRTT(tb, from, dst, count, timeout)
	if len(rtts) == 0 {
		return // PingRTT failed the test
	}
	lo, hi, sum := rtts[0], rtts[0], time.Duration(0)
	for _, d := range rtts {
		lo, hi, sum = min(lo, d), max(hi, d), sum+d
	}
	tb.Logf("netns: ping %v from %v: %d/%d replies, rtt min/avg/max = %v/%v/%v",
		dst, from, len(rtts), count, lo, sum/time.Duration(len(rtts)), hi)
}

// PingRTT is like Ping but returns the round-trip times, in sequence
// order, instead of logging them.
func PingRTT(tb testing.TB, from *Host, dst netip.Addr, count int, timeout time.Duration) []time.Duration {
	tb.Helper()
	if from == nil {
		tb.Fatalf("netns: ping %v from nil host", dst)
		return nil
	}
	rtts, err := from.Ping(dst, count, timeout)
	if err != nil {
		tb.Fatalf("netns: ping %v from %v: %v", dst, from, err)
		return nil
	}
	return rtts
}

// Ping sends count ICMP (or ICMPv6) echo requests to dst from a raw socket
// opened inside h, one every 200 ms, and waits for each reply up to
// timeout after its request. Replies must come from dst and carry the
// request's identifier, sequence number and payload; other ICMP traffic is
// ignored. It returns the round-trip times in sequence order, with zero
// for missing replies, and an error unless all replies arrived in time.
func (h *Host) Ping(dst netip.Addr, count int, timeout time.Duration) ([]time.Duration, error) {
	switch {
	case !dst.IsValid():
		return nil, errors.New("invalid destination address")
	case count < 1 || count > 0xffff:
		return nil, fmt.Errorf("count %d out of range 1..65535", count)
	case timeout <= 0:
		return nil, fmt.Errorf("non-positive timeout %v", timeout)
	}
	dst = dst.Unmap()
	network, laddr, proto := "ip4:icmp", "0.0.0.0", protoICMP
	var reqType, replyType icmp.Type = ipv4.ICMPTypeEcho, ipv4.ICMPTypeEchoReply
	if dst.Is6() {
		network, laddr, proto = "ip6:ipv6-icmp", "::", protoICMPv6
		reqType, replyType = ipv6.ICMPTypeEchoRequest, ipv6.ICMPTypeEchoReply
	}
	var c *icmp.PacketConn
	err := h.Do(func() error {
		var err error
		c, err = icmp.ListenPacket(network, laddr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("opening raw ICMP socket in %v: %w", h, err)
	}
	defer c.Close()

	// A random identifier keeps concurrent pings in the same namespace
	// apart; the raw socket sees all of their replies.
	id := int(rand.Uint32() & 0xffff)
	payload := make([]byte, pingPayload)
	for i := range payload {
		payload[i] = byte(rand.Uint32())
	}
	dstAddr := &net.IPAddr{IP: dst.AsSlice(), Zone: dst.Zone()}

	var (
		start    = time.Now()
		sentAt   = make([]time.Time, count)
		rtts     = make([]time.Duration, count)
		received = make([]bool, count)
		got      int
		next     int // sequence number of the next request
		problems []string
		buf      = make([]byte, 64<<10)
	)
	for got < count {
		now := time.Now()
		for next < count && !now.Before(start.Add(time.Duration(next)*pingInterval)) {
			msg := icmp.Message{Type: reqType, Body: &icmp.Echo{ID: id, Seq: next, Data: payload}}
			// For ICMPv6 the kernel computes the checksum.
			b, err := msg.Marshal(nil)
			if err != nil {
				return rtts, fmt.Errorf("building echo request: %w", err)
			}
			sentAt[next] = time.Now()
			if _, err := c.WriteTo(b, dstAddr); err != nil {
				// Kept going: the missing reply fails the ping, and
				// the error explains why.
				problems = append(problems, fmt.Sprintf("seq %d: send: %v", next, err))
			}
			next++
		}
		var wake time.Time
		if next < count {
			wake = start.Add(time.Duration(next) * pingInterval)
		} else {
			// Requests are sent in order, so the last one expires last.
			wake = sentAt[count-1].Add(timeout)
			if !time.Now().Before(wake) {
				break
			}
		}
		if err := c.SetReadDeadline(wake); err != nil {
			return rtts, fmt.Errorf("setting read deadline: %w", err)
		}
		n, peer, err := c.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				continue
			}
			return rtts, fmt.Errorf("reading ICMP: %w", err)
		}
		arrived := time.Now()
		msg, err := icmp.ParseMessage(proto, buf[:n])
		if err != nil {
			continue // not ours to judge
		}
		from, _ := netip.AddrFromSlice(peerIP(peer))
		switch body := msg.Body.(type) {
		case *icmp.Echo:
			if msg.Type != replyType || body.ID != id || body.Seq < 0 || body.Seq >= next || from.Unmap() != dst.WithZone("") {
				continue
			}
			seq := body.Seq
			if !bytes.Equal(body.Data, payload) {
				problems = append(problems, fmt.Sprintf("seq %d: reply payload differs from request", seq))
				continue
			}
			if received[seq] {
				continue // duplicate
			}
			rtt := arrived.Sub(sentAt[seq])
			if rtt > timeout {
				problems = append(problems, fmt.Sprintf("seq %d: reply after %v", seq, rtt))
				continue
			}
			received[seq], rtts[seq] = true, rtt
			got++
		case *icmp.DstUnreach:
			if seq, ok := quotedEcho(body.Data, dst.Is6(), id); ok {
				problems = append(problems, fmt.Sprintf("seq %d: destination unreachable (code %d) from %v", seq, msg.Code, from))
			}
		case *icmp.TimeExceeded:
			if seq, ok := quotedEcho(body.Data, dst.Is6(), id); ok {
				problems = append(problems, fmt.Sprintf("seq %d: time exceeded from %v", seq, from))
			}
		}
	}
	if got == count {
		return rtts, nil
	}
	var missing []int
	for seq, ok := range received {
		if !ok {
			missing = append(missing, seq)
		}
	}
	msg := fmt.Sprintf("%d of %d replies within %v (missing seq %v)", got, count, timeout, missing)
	if len(problems) > 0 {
		msg += "; " + strings.Join(slices.Compact(problems), "; ")
	}
	return rtts, errors.New(msg)
}

func peerIP(a net.Addr) net.IP {
	if ipa, ok := a.(*net.IPAddr); ok {
		return ipa.IP
	}
	return nil
}

// quotedEcho extracts the sequence number of one of our echo requests
// quoted in an ICMP error message (the original IP header followed by at
// least 8 bytes of the original ICMP message).
func quotedEcho(data []byte, v6 bool, id int) (int, bool) {
	var inner []byte
	if v6 {
		if len(data) < 40 || data[6] != protoICMPv6 {
			return 0, false
		}
		inner = data[40:]
	} else {
		if len(data) < 20 || data[9] != protoICMP {
			return 0, false
		}
		ihl := int(data[0]&0x0f) * 4
		if ihl < 20 || len(data) < ihl {
			return 0, false
		}
		inner = data[ihl:]
	}
	if len(inner) < 8 {
		return 0, false
	}
	want := byte(8) // ICMP echo request
	if v6 {
		want = 128 // ICMPv6 echo request
	}
	if inner[0] != want || int(binary.BigEndian.Uint16(inner[4:6])) != id {
		return 0, false
	}
	return int(binary.BigEndian.Uint16(inner[6:8])), true
}
