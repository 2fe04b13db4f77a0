package radius

import (
	"bytes"
	"context"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2866"
	"layeh.com/radius/rfc2869"
)

func TestAccountingSession(t *testing.T) {
	srv := accepting(t)
	c := testClient(t, []string{srv.addr()}, []string{srv.addr()}, nil)
	a := NewAccounting(c)
	id := a.NewSessionID()
	if id2 := a.NewSessionID(); id2 == id || len(id) != 18 || !strings.HasPrefix(id2, id[:12]) {
		t.Errorf("session IDs %q, %q", id, id2)
	}
	var octets atomic.Uint64
	counters := func() Counters {
		n := octets.Add(3 << 32) // past 4 GiB at once: Gigawords needed
		return Counters{InOctets: n + 5, OutOctets: 7, InPackets: 11, OutPackets: 13}
	}
	rec := Record{SessionID: id, User: "alice", NASPort: 42, HasNASPort: true, Addr: netip.MustParseAddr("10.0.0.9"),
		Peer: netip.MustParseAddr("192.0.2.10"), Class: [][]byte{[]byte("cls")}}
	s := a.Begin(context.Background(), rec, 200*time.Millisecond, counters)
	time.Sleep(500 * time.Millisecond)
	if err := s.End(ctxT(t, 5*time.Second), CauseAdminReset); err != nil {
		t.Fatal(err)
	}
	if err := s.End(ctxT(t, 5*time.Second), CauseAdminReset); err == nil {
		t.Error("second End sent another Stop")
	}

	rs := srv.requests()
	if len(rs) < 3 {
		t.Fatalf("%d requests", len(rs))
	}
	status := func(p *radius.Packet) Status {
		v, _ := radius.Integer(p.Get(rfc2866.AcctStatusType_Type))
		return Status(v)
	}
	first, last := rs[0].pkt, rs[len(rs)-1].pkt
	if status(first) != StatusStart || status(last) != StatusStop {
		t.Fatalf("first %v, last %v", status(first), status(last))
	}
	for _, r := range rs[1 : len(rs)-1] {
		if status(r.pkt) != StatusInterimUpdate {
			t.Errorf("middle request %v", status(r.pkt))
		}
	}
	if n := len(rs) - 2; n < 1 || n > 3 {
		t.Errorf("%d interim updates in 500 ms at 200 ms", n)
	}
	if first.Get(rfc2866.AcctInputOctets_Type) != nil || first.Get(rfc2866.AcctTerminateCause_Type) != nil {
		t.Error("Start carries counters or a cause")
	}
	for _, r := range rs {
		p := r.pkt
		if string(p.Get(rfc2866.AcctSessionID_Type)) != id || string(p.Get(rfc2865.UserName_Type)) != "alice" ||
			!bytes.Equal(p.Get(rfc2865.FramedIPAddress_Type), []byte{10, 0, 0, 9}) ||
			string(p.Get(rfc2865.CallingStationID_Type)) != "192.0.2.10" || string(p.Get(rfc2865.Class_Type)) != "cls" ||
			attrInt(t, p, rfc2865.NASPort_Type) != 42 || attrInt(t, p, rfc2866.AcctAuthentic_Type) != 1 ||
			attrInt(t, p, rfc2865.NASPortType_Type) != 5 || string(p.Get(rfc2865.NASIdentifier_Type)) != "test-nas" {
			t.Errorf("%v request lacks the session's attributes", status(p))
		}
	}
	total := octets.Load() + 5
	if lo, hi := attrInt(t, last, rfc2866.AcctInputOctets_Type), attrInt(t, last, rfc2869.AcctInputGigawords_Type); uint64(hi)<<32|uint64(lo) != total {
		t.Errorf("Stop input octets %d:%d, want %d", hi, lo, total)
	}
	if last.Get(rfc2869.AcctOutputGigawords_Type) != nil || attrInt(t, last, rfc2866.AcctOutputOctets_Type) != 7 {
		t.Error("output octets wrong")
	}
	if attrInt(t, last, rfc2866.AcctInputPackets_Type) != 11 || attrInt(t, last, rfc2866.AcctOutputPackets_Type) != 13 {
		t.Error("packet counts wrong")
	}
	if attrInt(t, last, rfc2866.AcctTerminateCause_Type) != uint32(CauseAdminReset) {
		t.Error("Terminate-Cause wrong")
	}
	if st := attrInt(t, last, rfc2866.AcctSessionTime_Type); st > 1 {
		t.Errorf("Session-Time %d after half a second", st)
	}
}

func TestAccountingDisabled(t *testing.T) {
	srv := accepting(t)
	c := testClient(t, []string{srv.addr()}, nil, nil)
	a := NewAccounting(c)
	if a.Enabled() {
		t.Fatal("enabled without servers")
	}
	s := a.Begin(context.Background(), Record{SessionID: "x"}, time.Millisecond, nil)
	if err := s.End(context.Background(), CauseUserRequest); err != nil {
		t.Error(err)
	}
	if err := a.Start(context.Background(), &Record{SessionID: "x"}); err == nil {
		t.Error("Start without servers succeeded")
	}
	if len(srv.requests()) != 0 {
		t.Error("accounting sent to the authentication server")
	}
}

func TestAccountingOutage(t *testing.T) {
	// With the accounting server silent, End still returns, within
	// MaxWait, after the Start in flight gave up.
	silent := newFakeServer(t, nil)
	c := testClient(t, []string{silent.addr()}, []string{silent.addr()}, func(c *Config) {
		c.Timeout = 100 * time.Millisecond
		c.Retries = -1
	})
	s := NewAccounting(c).Begin(context.Background(), Record{SessionID: "x"}, time.Hour, nil)
	t0 := time.Now()
	if err := s.End(context.Background(), CauseLostCarrier); err == nil {
		t.Error("Stop to a silent server succeeded")
	}
	if d := time.Since(t0); d > time.Second {
		t.Errorf("End took %v", d)
	}
	if st := c.Stats(); st.AcctFailures != 2 {
		t.Errorf("AcctFailures = %d, want Start and Stop", st.AcctFailures)
	}
}

func TestTerminateCauseString(t *testing.T) {
	for c, want := range map[TerminateCause]string{CauseUserRequest: "User-Request", CauseAdminReset: "Admin-Reset",
		CauseHostRequest: "Host-Request", CauseSessionTimeout: "Session-Timeout", 0: "TerminateCause(0)", 99: "TerminateCause(99)"} {
		if got := c.String(); got != want {
			t.Errorf("%d: %q, want %q", uint32(c), got, want)
		}
	}
	if StatusInterimUpdate.String() != "Interim-Update" || Status(9).String() != "Status(9)" {
		t.Error("Status names")
	}
}
