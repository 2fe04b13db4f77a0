package server

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// MetricsHandler returns the Prometheus endpoint of this server. The
// counters are read when scraped, from the same atomics the data path
// updates anyway, so metrics cost nothing per packet.
func (s *Server) MetricsHandler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(s.count.setup, collector{s}, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(s.count.radius)
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

var (
	descSessions    = prometheus.NewDesc("pptp_sessions", "Sessions by state.", []string{"state"}, nil)
	descConnections = prometheus.NewDesc("pptp_control_connections_total", "Control connections accepted.", nil, nil)
	descLogins      = prometheus.NewDesc("pptp_logins_total", "Logins by result and method.", []string{"result", "method"}, nil)
	descRefused     = prometheus.NewDesc("pptp_refused_total", "Connections and calls refused, by the limit that refused them.", []string{"reason"}, nil)
	descBytes       = prometheus.NewDesc("pptp_bytes_total", "IP bytes through tunnels, by direction (rx: from clients).", []string{"direction"}, nil)
	descPackets     = prometheus.NewDesc("pptp_packets_total", "IP packets through tunnels, by direction.", []string{"direction"}, nil)
	descGRE         = prometheus.NewDesc("pptp_gre_sequence_total", "GRE sequence events: lost (never arrived), reordered (restored to order), dropped (late or duplicate).", []string{"event"}, nil)
	descMPPE        = prometheus.NewDesc("pptp_mppe_resync_total", "Stateful MPPE resynchronisation: CCP Reset-Requests sent after lost packets (reset_sent), decryption resumed on a flushed packet (resynced), the peer's Reset-Requests answered (reset_received).", []string{"event"}, nil)
	descDrops       = prometheus.NewDesc("pptp_drops_total", "Packets dropped, by reason.", []string{"reason"}, nil)
	descLocked      = prometheus.NewDesc("pptp_locked_out_sources", "Source addresses locked out after failed logins.", nil, nil)
	descRADIUS      = prometheus.NewDesc("pptp_radius_server_events_total", "RADIUS requests and their outcomes, per server (counted since the last reload).", []string{"server", "kind", "event"}, nil)
	descRADIUSUp    = prometheus.NewDesc("pptp_radius_server_up", "Whether a RADIUS server is in use (0: marked dead after not answering).", []string{"server", "kind"}, nil)
	descRADIUSFail  = prometheus.NewDesc("pptp_radius_failures_total", "RADIUS requests no server answered (an outage).", []string{"kind"}, nil)
	descDAE         = prometheus.NewDesc("pptp_radius_dae_total", "Dynamic Authorization (Disconnect/CoA) requests and answers.", []string{"event"}, nil)
)

// collector reads the server's counters at scrape time.
type collector struct{ s *Server }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descSessions, descConnections, descLogins, descRefused, descBytes, descPackets, descGRE, descMPPE, descDrops, descLocked,
		descRADIUS, descRADIUSUp, descRADIUSFail, descDAE} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	up, nego := 0, 0
	// The ended calls' totals and the list of live calls are read together
	// (see release); a call that ends after this is counted from its own
	// stats, which only grow.
	s.mu.Lock()
	rx, tx := s.count.endedRxBytes.Load(), s.count.endedTxBytes.Load()
	rxp, txp := s.count.endedRxPacket.Load(), s.count.endedTxPacket.Load()
	lost, reordered, late := s.count.endedLost.Load(), s.count.endedReordered.Load(), s.count.endedLate.Load()
	resetsSent, resyncs, resetsRecv := s.count.endedResetsSent.Load(), s.count.endedResyncs.Load(), s.count.endedResetsRecv.Load()
	drops := snapshot(&s.count.endedDrops)
	calls := s.callsLocked()
	s.mu.Unlock()
	for _, cl := range calls {
		if cl.upInfo.Load() != nil {
			up++
		} else {
			nego++
		}
		if cl.dp == nil {
			continue
		}
		st := &cl.dp.Stats
		rx, tx = rx+st.RxBytes.Load(), tx+st.TxBytes.Load()
		rxp, txp = rxp+st.RxPackets.Load(), txp+st.TxPackets.Load()
		lost, reordered, late = lost+st.Lost.Load(), reordered+st.Reordered.Load(), late+st.DropSeq.Load()
		resetsSent, resyncs, resetsRecv = resetsSent+st.ResetsSent.Load(), resyncs+st.Resyncs.Load(), resetsRecv+st.ResetsReceived.Load()
		for reason, n := range dropsOf(st) {
			drops[reason] += n
		}
	}
	if e := s.engine; e != nil {
		for reason, v := range map[string]uint64{
			"malformed": e.Counters.Malformed.Load(), "unknown_call": e.Counters.UnknownCall.Load(),
			"wrong_peer": e.Counters.WrongPeer.Load(), "truncated": e.Counters.Truncated.Load(),
			"no_route": e.Counters.NoRoute.Load(), "send_refused": e.Counters.SendDropped.Load(),
		} {
			drops[reason] += v
		}
	}
	ch <- prometheus.MustNewConstMetric(descSessions, prometheus.GaugeValue, float64(up), "up")
	ch <- prometheus.MustNewConstMetric(descSessions, prometheus.GaugeValue, float64(nego), "negotiating")
	counter(descConnections, s.count.connections.Load())
	for m, n := range snapshot(&s.count.loginsOK) {
		counter(descLogins, n, "ok", m)
	}
	for m, n := range snapshot(&s.count.loginsFailed) {
		counter(descLogins, n, "failed", m)
	}
	for r, n := range snapshot(&s.count.refused) {
		counter(descRefused, n, r)
	}
	counter(descBytes, rx, "rx")
	counter(descBytes, tx, "tx")
	counter(descPackets, rxp, "rx")
	counter(descPackets, txp, "tx")
	counter(descGRE, lost, "lost")
	counter(descGRE, reordered, "reordered")
	counter(descGRE, late, "dropped")
	counter(descMPPE, resetsSent, "reset_sent")
	counter(descMPPE, resyncs, "resynced")
	counter(descMPPE, resetsRecv, "reset_received")
	for r, n := range drops {
		counter(descDrops, n, r)
	}
	ch <- prometheus.MustNewConstMetric(descLocked, prometheus.GaugeValue, float64(s.guard.lockedOut(time.Now())))
	if rad := s.conf().rad; rad != nil {
		st := rad.client.Stats()
		for _, sv := range st.Servers {
			kind := string(sv.Kind)
			for ev, n := range map[string]uint64{"requests": sv.Requests, "retransmits": sv.Retransmits, "accepts": sv.Accepts,
				"rejects": sv.Rejects, "challenges": sv.Challenges, "responses": sv.Responses, "timeouts": sv.Timeouts,
				"errors": sv.Errors, "dropped": sv.Dropped} {
				counter(descRADIUS, n, sv.Addr, kind, ev)
			}
			up := 1.0
			if sv.Dead {
				up = 0
			}
			ch <- prometheus.MustNewConstMetric(descRADIUSUp, prometheus.GaugeValue, up, sv.Addr, kind)
		}
		counter(descRADIUSFail, st.AuthFailures, "auth")
		counter(descRADIUSFail, st.AcctFailures, "acct")
	}
	if d := s.dae.Load(); d != nil {
		st := d.Stats()
		for ev, n := range map[string]uint64{"requests": st.Requests, "duplicates": st.Duplicates, "acks": st.ACKs, "naks": st.NAKs, "dropped": st.Dropped} {
			counter(descDAE, n, ev)
		}
	}
}
