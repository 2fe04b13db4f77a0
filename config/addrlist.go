package config

import (
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
	"math"
	"math/bits"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// AddrRange is an inclusive range of addresses of one family.
type AddrRange struct {
	First, Last netip.Addr
}

// Len returns the number of addresses in the range, saturating at
// math.MaxInt for huge IPv6 ranges. An invalid range has length 0.
func (r AddrRange) Len() int {
	if !r.valid() {
		return 0
	}
	d := u128Of(r.Last).sub(u128Of(r.First))
	if d.hi != 0 || d.lo >= math.MaxInt {
		return math.MaxInt
	}
	return int(d.lo) + 1
}

// At returns the i-th address of the range (0-based), or the zero Addr
// when i is out of range.
func (r AddrRange) At(i int) netip.Addr {
	if i < 0 || i >= r.Len() {
		return netip.Addr{}
	}
	return u128Of(r.First).add(uint64(i)).addr(r.First.Is4())
}

// Contains reports whether a lies within the range. IPv4-mapped IPv6
// addresses are treated as IPv4.
func (r AddrRange) Contains(a netip.Addr) bool {
	a = a.Unmap()
	return r.valid() && a.BitLen() == r.First.BitLen() &&
		r.First.Compare(a) <= 0 && a.Compare(r.Last) <= 0
}

// String formats the range as "first-last", or as one address when the
// range holds a single address.
func (r AddrRange) String() string {
	if r.First == r.Last {
		return r.First.String()
	}
	return r.First.String() + "-" + r.Last.String()
}

func (r AddrRange) valid() bool {
	return r.First.IsValid() && r.First.BitLen() == r.Last.BitLen() && r.First.Compare(r.Last) <= 0
}

func (r AddrRange) overlaps(o AddrRange) bool {
	return r.First.BitLen() == o.First.BitLen() &&
		r.First.Compare(o.Last) <= 0 && o.First.Compare(r.Last) <= 0
}

// AddrList is an ordered list of address ranges, as written in a
// pptpd.conf localip or remoteip line. It stays compact however many
// addresses it describes; the order is significant (poptop hands out the
// i-th address to the i-th session slot).
type AddrList []AddrRange

// Len returns the number of addresses in the list, saturating at
// math.MaxInt.
func (l AddrList) Len() int {
	n := 0
	for _, r := range l {
		k := r.Len()
		if n > math.MaxInt-k {
			return math.MaxInt
		}
		n += k
	}
	return n
}

// At returns the i-th address of the list (0-based), or the zero Addr
// when i is out of range.
func (l AddrList) At(i int) netip.Addr {
	if i < 0 {
		return netip.Addr{}
	}
	for _, r := range l {
		k := r.Len()
		if i < k {
			return r.At(i)
		}
		i -= k
	}
	return netip.Addr{}
}

// Contains reports whether a is in any range of the list.
func (l AddrList) Contains(a netip.Addr) bool {
	for _, r := range l {
		if r.Contains(a) {
			return true
		}
	}
	return false
}

// All iterates over the list's addresses in order, with their index.
// The sequence can be very long for large blocks; stop early as needed.
func (l AddrList) All() iter.Seq2[int, netip.Addr] {
	return func(yield func(int, netip.Addr) bool) {
		i := 0
		for _, r := range l {
			if !r.valid() {
				continue
			}
			cur, end := u128Of(r.First), u128Of(r.Last)
			is4 := r.First.Is4()
			for {
				if !yield(i, cur.addr(is4)) {
					return
				}
				if cur == end || i == math.MaxInt {
					break
				}
				cur = cur.add(1)
				i++
			}
			if i == math.MaxInt {
				return
			}
			i++
		}
	}
}

// String formats the list in the syntax ParseAddrList accepts.
func (l AddrList) String() string {
	parts := make([]string, len(l))
	for i, r := range l {
		parts[i] = r.String()
	}
	return strings.Join(parts, ",")
}

// overlap returns a pair of ranges, one from l and one from o, that share
// an address, if there is one. It sorts, so it stays O(n log n) for long
// lists.
func (l AddrList) overlap(o AddrList) (AddrRange, AddrRange, bool) {
	type tagged struct {
		r    AddrRange
		side int // 0 for l, 1 for o
	}
	all := make([]tagged, 0, len(l)+len(o))
	for _, r := range l {
		all = append(all, tagged{r, 0})
	}
	for _, r := range o {
		all = append(all, tagged{r, 1})
	}
	slices.SortFunc(all, func(a, b tagged) int { return a.r.First.Compare(b.r.First) })
	// After sorting by First, a range overlaps an earlier range of the
	// other list exactly when it overlaps the one of those that reaches
	// furthest.
	reach := [2]int{-1, -1}
	for i, t := range all {
		if j := reach[1-t.side]; j >= 0 && all[j].r.overlaps(t.r) {
			var pair [2]AddrRange
			pair[t.side], pair[1-t.side] = t.r, all[j].r
			return pair[0], pair[1], true
		}
		j := reach[t.side]
		if j < 0 || all[j].r.First.BitLen() != t.r.First.BitLen() || all[j].r.Last.Compare(t.r.Last) < 0 {
			reach[t.side] = i
		}
	}
	return AddrRange{}, AddrRange{}, false
}

// selfOverlap returns two ranges of l that share an address, if any.
func (l AddrList) selfOverlap() (AddrRange, AddrRange, bool) {
	s := slices.Clone(l)
	slices.SortFunc(s, func(a, b AddrRange) int { return a.First.Compare(b.First) })
	// After sorting by First, a range overlaps an earlier one exactly
	// when it overlaps the earlier range that reaches furthest.
	reach := 0
	for i := 1; i < len(s); i++ {
		if s[reach].overlaps(s[i]) {
			return s[reach], s[i], true
		}
		if s[reach].First.BitLen() != s[i].First.BitLen() || s[reach].Last.Compare(s[i].Last) < 0 {
			reach = i
		}
	}
	return AddrRange{}, AddrRange{}, false
}

// maxOctetRangeItems bounds how many ranges one poptop middle-octet item
// such as 192.168.0-255.2 may produce; it is the size of an octet.
const maxOctetRangeItems = 256

// mapped4 is the IPv4-mapped IPv6 block, ::ffff:0:0/96.
var mapped4 = AddrRange{netip.MustParseAddr("::ffff:0:0"), netip.MustParseAddr("::ffff:ffff:ffff")}

// ParseAddrList parses a pptpd.conf address list: comma-separated items,
// each one of
//
//	10.0.0.1                    a single address (IPv4 or IPv6)
//	10.0.0.200-208              poptop's range of the last octet
//	192.168.0-255.2             poptop's range of another octet (one
//	                            address per value, not contiguous)
//	100.64.0.10-100.64.40.250   a range of full addresses
//	100.64.0.0/18               a block; for IPv4 blocks larger than /31
//	                            the network and broadcast addresses are
//	                            left out, for IPv6 blocks larger than /127
//	                            the subnet-router anycast address is
//
// All items must be of one family. Spaces around items are allowed.
// Errors say which item is wrong and why; they carry no position, which
// the caller adds.
func ParseAddrList(s string) (AddrList, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("empty address list")
	}
	var list AddrList
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			return nil, fmt.Errorf("empty item in address list %q", s)
		}
		rs, err := parseAddrItem(item)
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			if r.overlaps(mapped4) {
				// Those addresses are IPv4 everywhere else (and print
				// as such), so the range would not be one family.
				return nil, fmt.Errorf("%q reaches into the IPv4-mapped addresses (%s): write IPv4 addresses as IPv4", item, mapped4)
			}
		}
		if len(list) > 0 && list[0].First.BitLen() != rs[0].First.BitLen() {
			return nil, fmt.Errorf("address list mixes IPv4 and IPv6 (%s and %s)", list[0], item)
		}
		list = append(list, rs...)
	}
	return list, nil
}

func parseAddrItem(item string) ([]AddrRange, error) {
	if strings.Contains(item, "/") {
		r, err := parseBlock(item)
		if err != nil {
			return nil, err
		}
		return []AddrRange{r}, nil
	}
	lo, hi, isRange := strings.Cut(item, "-")
	if !isRange {
		a, err := parseOneAddr(item)
		if err != nil {
			return nil, fmt.Errorf("bad address %q: %w", item, err)
		}
		return []AddrRange{{a, a}}, nil
	}
	if strings.Contains(hi, "-") {
		return nil, fmt.Errorf("bad range %q: more than one '-'", item)
	}
	// "a-b" with full addresses on both sides, else poptop's octet form.
	if first, err := parseOneAddr(lo); err == nil && (strings.Count(hi, ".") == 3 || strings.Contains(hi, ":")) {
		last, err := parseOneAddr(hi)
		if err != nil {
			return nil, fmt.Errorf("bad range %q: bad end address %q: %w", item, hi, err)
		}
		if first.BitLen() != last.BitLen() {
			return nil, fmt.Errorf("bad range %q: mixes IPv4 and IPv6", item)
		}
		if first.Compare(last) > 0 {
			return nil, fmt.Errorf("bad range %q: reversed (%s comes after %s)", item, first, last)
		}
		return []AddrRange{{first, last}}, nil
	}
	return parseOctetRange(item)
}

// parseOctetRange parses poptop's "a.b.c.d" with one octet written as
// "lo-hi".
func parseOctetRange(item string) ([]AddrRange, error) {
	parts := strings.Split(item, ".")
	if len(parts) != 4 {
		return nil, fmt.Errorf("bad range %q: want a.b.c.d-e, a.b.c-d.e or first-last", item)
	}
	var octets [4]byte
	rangeAt, lo, hi := -1, 0, 0
	for i, p := range parts {
		if l, h, ok := strings.Cut(p, "-"); ok {
			var err1, err2 error
			lo, err1 = parseOctet(l)
			hi, err2 = parseOctet(h)
			if err := errors.Join(err1, err2); err != nil {
				return nil, fmt.Errorf("bad range %q: %w", item, err)
			}
			rangeAt = i
			continue
		}
		v, err := parseOctet(p)
		if err != nil {
			return nil, fmt.Errorf("bad range %q: %w", item, err)
		}
		octets[i] = byte(v)
	}
	if lo > hi {
		return nil, fmt.Errorf("bad range %q: reversed (%d comes after %d; poptop ranges spell out the whole octet, e.g. 10.0.0.234-238)", item, lo, hi)
	}
	if rangeAt == 3 {
		octets[3] = byte(lo)
		first := netip.AddrFrom4(octets)
		octets[3] = byte(hi)
		return []AddrRange{{first, netip.AddrFrom4(octets)}}, nil
	}
	out := make([]AddrRange, 0, min(hi-lo+1, maxOctetRangeItems))
	for v := lo; v <= hi; v++ {
		octets[rangeAt] = byte(v)
		a := netip.AddrFrom4(octets)
		out = append(out, AddrRange{a, a})
	}
	return out, nil
}

func parseOctet(s string) (int, error) {
	if s == "" || len(s) > 3 || (len(s) > 1 && s[0] == '0') {
		return 0, fmt.Errorf("bad octet %q", s)
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("bad octet %q", s)
		}
	}
	v, _ := strconv.Atoi(s)
	if v > 255 {
		return 0, fmt.Errorf("octet %d out of range 0-255", v)
	}
	return v, nil
}

func parseOneAddr(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, err
	}
	if a.Zone() != "" {
		return netip.Addr{}, errors.New("zones are not allowed")
	}
	return a.Unmap(), nil
}

func parseBlock(item string) (AddrRange, error) {
	p, err := netip.ParsePrefix(item)
	if err != nil {
		return AddrRange{}, fmt.Errorf("bad block %q: %w", item, err)
	}
	if p.Addr().Is4In6() {
		return AddrRange{}, fmt.Errorf("bad block %q: write IPv4 blocks in dotted form", item)
	}
	if m := p.Masked(); m != p {
		return AddrRange{}, fmt.Errorf("bad block %q: host bits are set (did you mean %s?)", item, m)
	}
	first := u128Of(p.Addr())
	hostBits := uint(p.Addr().BitLen() - p.Bits())
	last := first.or(onesLow(hostBits))
	is4 := p.Addr().Is4()
	switch {
	case is4 && hostBits > 1:
		first, last = first.add(1), last.sub(u128{0, 1})
	case !is4 && hostBits > 1:
		first = first.add(1)
	}
	return AddrRange{first.addr(is4), last.addr(is4)}, nil
}

// u128 is an address as a 128-bit unsigned number, for range arithmetic.
// IPv4 addresses are held in their IPv4-mapped form, which keeps
// differences between two IPv4 addresses correct.
type u128 struct{ hi, lo uint64 }

func u128Of(a netip.Addr) u128 {
	b := a.As16()
	return u128{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
}

func (x u128) addr(is4 bool) netip.Addr {
	if is4 {
		return netip.AddrFrom4([4]byte{byte(x.lo >> 24), byte(x.lo >> 16), byte(x.lo >> 8), byte(x.lo)})
	}
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], x.hi)
	binary.BigEndian.PutUint64(b[8:], x.lo)
	return netip.AddrFrom16(b)
}

func (x u128) add(n uint64) u128 {
	lo, carry := bits.Add64(x.lo, n, 0)
	return u128{x.hi + carry, lo}
}

func (x u128) sub(y u128) u128 {
	lo, borrow := bits.Sub64(x.lo, y.lo, 0)
	return u128{x.hi - y.hi - borrow, lo}
}

func (x u128) or(y u128) u128 { return u128{x.hi | y.hi, x.lo | y.lo} }

// onesLow returns a number with the low n bits set (n <= 128).
func onesLow(n uint) u128 {
	switch {
	case n == 0:
		return u128{}
	case n < 64:
		return u128{0, 1<<n - 1}
	case n == 64:
		return u128{0, math.MaxUint64}
	case n < 128:
		return u128{1<<(n-64) - 1, math.MaxUint64}
	default:
		return u128{math.MaxUint64, math.MaxUint64}
	}
}
