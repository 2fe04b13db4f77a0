package netns

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// linkUpTimeout bounds the wait for both ends of a new veth pair to report
// a running link.
const linkUpTimeout = 5 * time.Second

// Connect links a and b with a veth pair, assigns aAddr to the end in a
// and bAddr to the end in b, brings both up and returns the two interface
// names. The interfaces are named "v<n>-<peer label>" (for example
// "v0-srv" in the client host), where n counts the links of the host, so
// names are unique per host and stay within 15 characters. The pair is
// deleted at cleanup even if a namespace outlives the test.
func Connect(tb testing.TB, a, b *Host, aAddr, bAddr netip.Prefix) (aIf, bIf string) {
	tb.Helper()
	aIf, bIf, err := connect(tb, a, b, aAddr, bAddr)
	if err != nil {
		tb.Fatalf("netns: connect %v and %v: %v", a, b, err)
		return "", ""
	}
	return aIf, bIf
}

func connect(tb testing.TB, a, b *Host, aAddr, bAddr netip.Prefix) (string, string, error) {
	if a == nil || b == nil {
		return "", "", errors.New("nil host")
	}
	if a == b {
		return "", "", errors.New("cannot connect a host to itself")
	}
	if !aAddr.IsValid() || !bAddr.IsValid() {
		return "", "", fmt.Errorf("invalid address %v or %v", aAddr, bAddr)
	}
	aIf, bIf := a.nextLinkName(b), b.nextLinkName(a)
	// Creating the pair from inside a with the peer placed directly in b
	// means neither end ever appears in the namespace of the test binary.
	if _, err := runTool("ip", "-n", a.name, "link", "add", aIf, "type", "veth", "peer", "name", bIf, "netns", b.name); err != nil {
		return "", "", err
	}
	// Deleting one end deletes both. Explicit deletion matters when a
	// namespace is kept alive past its cleanup by a leaked socket or
	// file descriptor.
	tb.Cleanup(func() {
		if _, err := runTool("ip", "-n", a.name, "link", "show", "dev", aIf); err != nil {
			return // already gone with its namespace
		}
		if _, err := runTool("ip", "-n", a.name, "link", "del", aIf); err != nil {
			tb.Errorf("netns: cleanup of %s in %v: %v", aIf, a, err)
		}
	})
	if err := setupEnd(a, aIf, aAddr); err != nil {
		return "", "", err
	}
	if err := setupEnd(b, bIf, bAddr); err != nil {
		return "", "", err
	}
	// Traffic sent before the kernel has seen the carrier come up is
	// dropped, which makes first pings flaky; wait for it.
	for _, end := range []struct {
		h    *Host
		name string
	}{{a, aIf}, {b, bIf}} {
		if err := waitRunning(end.h, end.name); err != nil {
			return "", "", err
		}
	}
	return aIf, bIf, nil
}

// nextLinkName returns a fresh interface name in h for a link to peer.
func (h *Host) nextLinkName(peer *Host) string {
	h.mu.Lock()
	n := h.links
	h.links++
	h.mu.Unlock()
	name := fmt.Sprintf("v%d-%s", n, peer.label)
	if len(name) > 15 {
		name = name[:15]
	}
	return strings.TrimRight(name, "-")
}

// setupEnd gives one end of a veth pair its address and brings it up.
func setupEnd(h *Host, ifName string, addr netip.Prefix) error {
	args := []string{"-n", h.name, "addr", "add", addr.String(), "dev", ifName}
	if addr.Addr().Is6() {
		// Skip duplicate address detection: it would keep the address
		// tentative, and unusable, for a second or two.
		args = append(args, "nodad")
	}
	if _, err := runTool("ip", args...); err != nil {
		return err
	}
	_, err := runTool("ip", "-n", h.name, "link", "set", "dev", ifName, "up")
	return err
}

// waitRunning waits until ifName in h reports a running link.
func waitRunning(h *Host, ifName string) error {
	deadline := time.Now().Add(linkUpTimeout)
	for {
		var flags net.Flags
		err := h.Do(func() error {
			ifi, err := net.InterfaceByName(ifName)
			if err != nil {
				return err
			}
			flags = ifi.Flags
			return nil
		})
		if err != nil {
			return fmt.Errorf("%v: %s: %w", h, ifName, err)
		}
		if flags&net.FlagRunning != 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%v: %s not running after %v (flags %v)", h, ifName, linkUpTimeout, flags)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
