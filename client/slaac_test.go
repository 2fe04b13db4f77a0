package client

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/gopptp/gopptp/nd"
	"github.com/gopptp/gopptp/ppp/ipv6cp"
)

// fakeIf records the addresses slaac puts on an interface.
type fakeIf struct{ addrs []netip.Prefix }

func (f *fakeIf) add(_ string, p netip.Prefix) error {
	f.addrs = append(f.addrs, p)
	return nil
}

func (f *fakeIf) del(_ string, p netip.Prefix) error {
	i := slices.Index(f.addrs, p)
	if i < 0 {
		return fmt.Errorf("%v not on the interface", p)
	}
	f.addrs = slices.Delete(f.addrs, i, i+1)
	return nil
}

func auto(s string, valid uint32) nd.PrefixInfo {
	return nd.PrefixInfo{Prefix: netip.MustParsePrefix(s), OnLink: true, Autonomous: true,
		ValidLifetime: valid, PreferredLifetime: valid}
}

// TestSLAACBounded: addresses from advertisements are capped at maxSLAAC
// (a peer announcing a new /64 in each one gave the interface an address
// per advertisement), reported once; a valid lifetime of 0 removes the
// address; prefixes that are not global unicast /64s make none.
func TestSLAACBounded(t *testing.T) {
	var f fakeIf
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	st := &v6Up{addAddr: f.add, delAddr: f.del}
	const iid = ipv6cp.ID(0x0200_0000_0000_0001)

	// Not for SLAAC: link-local, multicast, unspecified, loopback,
	// IPv4-mapped, not a /64, not autonomous.
	notAuto := auto("2001:db8:9::/64", 3600)
	notAuto.Autonomous = false
	st.slaac(log, "ppp0", iid, []nd.PrefixInfo{auto("fe80::/64", 3600), auto("ff02::/64", 3600),
		auto("::/64", 3600), auto("::1/64", 3600), auto("::ffff:0:0/64", 3600),
		auto("2001:db8:8::/48", 3600), auto("2001:db8:7:0:8000::/65", 3600), notAuto})
	if len(f.addrs) != 0 || len(st.addrs) != 0 {
		t.Fatalf("addresses from prefixes not for SLAAC: %v", f.addrs)
	}

	// One new /64 per advertisement: only maxSLAAC are used.
	for i := range 2 * maxSLAAC {
		st.slaac(log, "ppp0", iid, []nd.PrefixInfo{auto(fmt.Sprintf("2001:db8:%x::/64", i+1), 3600)})
	}
	if len(f.addrs) != maxSLAAC || len(st.addrs) != maxSLAAC {
		t.Fatalf("%d addresses on the interface, %d recorded; want %d", len(f.addrs), len(st.addrs), maxSLAAC)
	}
	if want := netip.MustParsePrefix("2001:db8:1:0:200::1/64"); f.addrs[0] != want {
		t.Errorf("first address %v, want %v", f.addrs[0], want)
	}
	if n := strings.Count(logs.String(), "ignoring prefixes past"); n != 1 {
		t.Errorf("the cap was reported %d times, want once:\n%s", n, logs.String())
	}

	// Withdrawn: the address goes, and a further prefix fits again.
	st.slaac(log, "ppp0", iid, []nd.PrefixInfo{auto("2001:db8:2::/64", 0), auto("2001:db8:99::/64", 0)})
	gone := netip.MustParsePrefix("2001:db8:2:0:200::1/64")
	if slices.Contains(f.addrs, gone) || slices.Contains(st.addrs, gone) || len(f.addrs) != maxSLAAC-1 {
		t.Fatalf("after withdrawal: interface %v, recorded %v", f.addrs, st.addrs)
	}
	st.slaac(log, "ppp0", iid, []nd.PrefixInfo{auto("2001:db8:2::/64", 3600)})
	if !slices.Contains(f.addrs, gone) || len(st.addrs) != maxSLAAC {
		t.Errorf("re-announced prefix not used: %v", f.addrs)
	}
	if !slices.Equal(f.addrs, st.addrs) {
		t.Errorf("interface %v and record %v differ", f.addrs, st.addrs)
	}
}
