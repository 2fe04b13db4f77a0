package server

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/gopptp/gopptp/control"
	"github.com/gopptp/gopptp/radius"
)

// Handle answers a control-socket request (pptpctl).
func (s *Server) Handle(_ context.Context, req control.Request) control.Response {
	switch req.Command {
	case control.CmdSessions:
		return control.Response{Sessions: s.SessionList()}
	case control.CmdShow:
		id, err := strconv.ParseUint(req.Arg, 10, 16)
		if err != nil {
			return control.Response{Error: fmt.Sprintf("show wants a session ID, not %q", req.Arg)}
		}
		for _, si := range s.SessionList() {
			if si.ID == uint16(id) {
				return control.Response{Sessions: []control.Session{si}}
			}
		}
		return control.Response{Error: fmt.Sprintf("no session %d", id)}
	case control.CmdKill:
		if req.Arg == "" {
			return control.Response{Error: "kill wants a user name, an address or a session ID"}
		}
		n := s.Kill(req.Arg, "killed by administrator")
		if n == 0 {
			return control.Response{Error: fmt.Sprintf("no session matches %q", req.Arg)}
		}
		return control.Response{Killed: n}
	case control.CmdReload:
		reload := s.conf().Reload
		if reload == nil {
			return control.Response{Error: "this server cannot reload its configuration"}
		}
		if err := reload(); err != nil {
			return control.Response{Error: "reload failed: " + err.Error()}
		}
		return control.Response{Message: "configuration reloaded"}
	case control.CmdStats:
		st := s.Stats()
		return control.Response{Stats: &st}
	}
	return control.Response{Error: fmt.Sprintf("unknown command %q", req.Command)}
}

// snapshotCalls copies the registry, so that callers look at the calls
// without holding the lock.
func (s *Server) snapshotCalls() []*call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.callsLocked()
}

// callsLocked is snapshotCalls with s.mu held.
func (s *Server) callsLocked() []*call {
	out := make([]*call, 0, len(s.sessions))
	for _, cl := range s.sessions {
		out = append(out, cl)
	}
	slices.SortFunc(out, func(a, b *call) int { return int(a.id) - int(b.id) })
	return out
}

// SessionList describes every call, negotiating or up.
func (s *Server) SessionList() []control.Session {
	now := time.Now()
	var out []control.Session
	for _, cl := range s.snapshotCalls() {
		si := control.Session{ID: cl.id, PeerCallID: cl.peerID, Peer: cl.peer.String(), State: "negotiating",
			Started: cl.start, UptimeSec: now.Sub(cl.start).Seconds()}
		if u := cl.user.Load(); u != nil {
			si.User = *u
		}
		if i := cl.upInfo.Load(); i != nil {
			si.State = "up"
			si.Local, si.Remote, si.Auth = i.Local.String(), i.Peer.String(), i.Auth.String()
			si.MPPESend, si.MPPERecv = i.MPPE.Send.String(), i.MPPE.Recv.String()
		}
		if v6 := cl.v6.Load(); v6 != nil {
			if v6.Prefix.IsValid() {
				si.IPv6Prefix = v6.Prefix.String()
			}
			for _, p := range v6.Delegated {
				si.DelegatedPrefixes = append(si.DelegatedPrefixes, p.String())
			}
		}
		if cl.dp != nil {
			st := &cl.dp.Stats
			si.RxBytes, si.TxBytes = st.RxBytes.Load(), st.TxBytes.Load()
			si.RxPackets, si.TxPackets = st.RxPackets.Load(), st.TxPackets.Load()
			si.Lost, si.Reordered = st.Lost.Load(), st.Reordered.Load()
			si.MPPEResetsSent, si.MPPEResyncs, si.MPPEResetsReceived = st.ResetsSent.Load(), st.Resyncs.Load(), st.ResetsReceived.Load()
			for _, n := range dropsOf(st) {
				si.Dropped += n
			}
		}
		out = append(out, si)
	}
	return out
}

// Kill ends every session matching what (a session ID, a user name, a
// tunnel or underlay address) with an orderly LCP termination, and returns
// how many it ended.
func (s *Server) Kill(what, reason string) int {
	id, idErr := strconv.ParseUint(what, 10, 16)
	addr, addrErr := netip.ParseAddr(what)
	n := 0
	for _, cl := range s.snapshotCalls() {
		match := idErr == nil && cl.id == uint16(id)
		if addrErr == nil {
			match = match || cl.peer == addr
			if i := cl.upInfo.Load(); i != nil && i.Peer == addr {
				match = true
			}
		}
		if u := cl.user.Load(); u != nil && *u == what {
			match = true
		}
		if match && cl.sess != nil {
			cl.setCause(radius.CauseAdminReset)
			cl.sess.Close(reason)
			n++
		}
	}
	return n
}

// Stats returns the server-wide counters.
func (s *Server) Stats() control.Stats {
	st := control.Stats{Started: s.started, MaxSessions: s.conf().MaxSessions,
		Connections: s.count.connections.Load(),
		RxBytes:     s.count.endedRxBytes.Load(), TxBytes: s.count.endedTxBytes.Load(),
		Refused: nonZero(snapshot(&s.count.refused)), Drops: nonZero(snapshot(&s.count.endedDrops)),
		LockedSources: s.guard.lockedOut(time.Now())}
	for _, n := range snapshot(&s.count.loginsOK) {
		st.LoginsOK += n
	}
	for _, n := range snapshot(&s.count.loginsFailed) {
		st.LoginsFailed += n
	}
	for _, cl := range s.snapshotCalls() {
		if cl.upInfo.Load() != nil {
			st.Sessions++
		} else {
			st.Negotiating++
		}
		if cl.dp != nil {
			st.RxBytes += cl.dp.Stats.RxBytes.Load()
			st.TxBytes += cl.dp.Stats.TxBytes.Load()
			for reason, n := range dropsOf(&cl.dp.Stats) {
				if n > 0 {
					if st.Drops == nil {
						st.Drops = map[string]uint64{}
					}
					st.Drops[reason] += n
				}
			}
		}
	}
	return st
}

func nonZero(m map[string]uint64) map[string]uint64 {
	for k, v := range m {
		if v == 0 {
			delete(m, k)
		}
	}
	if len(m) == 0 {
		return nil
	}
	return m
}
