#!/usr/bin/env bash
# sessions.sh: the session-scale benchmark, in one command.
#
# Two network namespaces joined by one veth pair: pptpd in one, pptp-load
# in the other. pptp-load opens N real sessions (MS-CHAP-v2 + MPPE-128 by
# default, LCP echo on both ends), pings the server's tunnel address
# through each of them, holds them all together, then tears them down.
# The script prints what pptp-load measured (sessions up and failed by
# reason, setup rate, setup latency p50/p99, pings lost) and what the
# server cost: CPU seconds for the setup phase, resident memory empty and
# with every session held, and the difference per session.
#
# Usage: sudo bench/sessions.sh            (10000 sessions held 5 minutes)
# Settings come from the environment, e.g. a short run:
#   sudo N=2000 HOLD=30s bench/sessions.sh
#
#   N=10000        sessions
#   HOLD=5m        how long all sessions stay up together once set up
#   PING=10s       each session pings the server's tunnel address this often
#   RATE=0         new sessions per second at most (0: as fast as CONC allows)
#   CONC=256       sessions negotiating at once (pptp-load -concurrency)
#   SOURCES=16     client addresses the sessions are spread over (pptpd
#                  lets one address hold only 16 half-open connections)
#   USERS=1        accounts in chap-secrets, used in turn (1: one shared)
#   MPPE=128       128, 40 or none
#   ECHO=30        LCP echo interval in seconds, both ends
#   OUT=DIR        keep the logs, the server's runtime metrics (empty and
#                  held) and its binary in DIR
#   PROFILE=1      with OUT: also pptpd's CPU profile of the whole run,
#                  DIR/pptpd.cpu.pprof (go tool pprof -top DIR/pptpd DIR/pptpd.cpu.pprof),
#                  and its heap and goroutine profiles at the plateau (the
#                  last sample of the hold), DIR/pptpd.heap.pprof
#                  (go tool pprof -sample_index=inuse_space -top DIR/pptpd
#                  DIR/pptpd.heap.pprof) and DIR/pptpd.goroutine.txt
#                  (goroutines counted by stack), fetched at every sample
#                  through GOPPTP_PPROF; building them allocates, so the
#                  memory figures come out a little higher than without
#
# The figures are only as good as the machine is quiet: pptpd and
# pptp-load share its cores, so the script prints the load average too.
#
# Needs root, iproute2 and Go. Nothing leaves the two namespaces.
set -euo pipefail
# Everything below is one compound command, which bash reads whole before
# running it: editing this file while a run is going cannot break that run.
{

N=${N:-10000}
HOLD=${HOLD:-5m}
PING=${PING:-10s}
RATE=${RATE:-0}
CONC=${CONC:-256}
SOURCES=${SOURCES:-16}
USERS=${USERS:-1}
MPPE=${MPPE:-128}
ECHO=${ECHO:-30}
OUT=${OUT:-}
PROFILE=${PROFILE:-}

[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
command -v ip >/dev/null || { echo "needs iproute2" >&2; exit 1; }
[ "$SOURCES" -ge 1 ] && [ "$SOURCES" -le 200 ] || { echo "SOURCES must be 1..200" >&2; exit 2; }
[ "$N" -ge 1 ] && [ "$N" -le 16000 ] || { echo "N must be 1..16000 (the pool is a /18)" >&2; exit 2; }

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/gopptp-sessions.XXXXXX)
S=gpsS$$ C=gpsC$$
SRV=10.99.0.1
METRICS=127.0.0.1:9317
PPROF=127.0.0.1:9318
SPID= LPID= TPID=
cleanup() {
	[ -n "$TPID" ] && kill "$TPID" 2>/dev/null || true
	[ -n "$LPID" ] && kill -INT "$LPID" 2>/dev/null || true
	[ -n "$SPID" ] && kill -TERM "$SPID" 2>/dev/null || true
	sleep 0.5
	for ns in $S $C; do
		for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
		ip netns del "$ns" 2>/dev/null || true
	done
	if [ -n "$OUT" ]; then
		cp "$WORK"/pptpd.log "$WORK"/load.out "$WORK"/load.err "$OUT"/ 2>/dev/null || true
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }

log "building pptpd and pptp-load"
(cd "$ROOT" && go build -o "$WORK" ./cmd/pptpd ./cmd/pptp-load)

# Every session is a TCP connection at both ends, plus sockets and files.
ulimit -n 1048576 2>/dev/null || ulimit -n "$(ulimit -Hn)"

ip netns add $S
ip netns add $C
ip link add gpsS0 type veth peer name gpsC0
ip link set gpsS0 netns $S
ip link set gpsC0 netns $C
ip -n $S addr add $SRV/24 dev gpsS0
ip -n $C addr add 10.99.0.2/24 dev gpsC0
SRCLIST=10.99.0.2
for i in $(seq 1 $((SOURCES - 1))); do
	ip -n $C addr add 10.99.0.$((9 + i))/24 dev gpsC0
	SRCLIST=$SRCLIST,10.99.0.$((9 + i))
done
for ns in $S $C; do ip -n $ns link set lo up; done
ip -n $S link set gpsS0 up
ip -n $C link set gpsC0 up
# Many connections from few addresses: widen the port range and the
# queues of the listening socket.
ip netns exec $C sysctl -qw net.ipv4.ip_local_port_range="1024 65535"
ip netns exec $S sysctl -qw net.core.somaxconn=8192 net.ipv4.tcp_max_syn_backlog=8192

# The server: a /18 pool, limits opened up for one load generator.
umask 077
: >"$WORK/chap-secrets"
for i in $(seq 1 "$USERS"); do
	echo "load$i pptpd \"secret-$i\" *" >>"$WORK/chap-secrets"
done
cat >"$WORK/pptpd.conf" <<EOF
option $WORK/options
localip 100.127.255.254
remoteip 100.64.0.0/18
listen $SRV
connections $((N + 100))
control-socket $WORK/pptpd.sock
metrics-listen $METRICS
max-starting $((CONC * 2))
max-half-open 4096
connection-rate off
lockout-failures off
EOF
MPPEOPT=require-mppe-128
case $MPPE in
128) ;;
40) MPPEOPT=require-mppe-40 ;;
none) MPPEOPT=nomppe ;;
*) echo "MPPE must be 128, 40 or none" >&2; exit 2 ;;
esac
cat >"$WORK/options" <<EOF
name pptpd
require-mschap-v2
$MPPEOPT
lcp-echo-interval $ECHO
lcp-echo-failure 4
chap-secrets $WORK/chap-secrets
lock
nobsdcomp
novj
novjccomp
nologfd
EOF

PROFENV=()
if [ -n "$OUT" ]; then
	mkdir -p "$OUT"
	OUT=$(cd "$OUT" && pwd)
	cp "$WORK/pptpd" "$OUT/pptpd"
	[ -n "$PROFILE" ] && PROFENV=(GOPPTP_CPUPROFILE="$OUT/pptpd.cpu.pprof" GOPPTP_PPROF="$PPROF")
fi
ip netns exec $S env "${PROFENV[@]}" "$WORK/pptpd" --fg --conf "$WORK/pptpd.conf" >"$WORK/pptpd.log" 2>&1 &
SPID=$!
for _ in $(seq 100); do grep -q 'pptpd listening' "$WORK/pptpd.log" && break; sleep 0.1; done
grep -q 'pptpd listening' "$WORK/pptpd.log" || { cat "$WORK/pptpd.log" >&2; exit 1; }

# rss_kib PID: resident memory in KiB.
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
# cpu_s PID: user+system CPU seconds.
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$1/stat"; }
metrics() {
	ip netns exec $S curl -sf "http://$METRICS/metrics" 2>/dev/null |
		grep -E '^(go_goroutines|go_memstats_(heap_inuse|heap_alloc|stack_inuse|sys)_bytes|pptp_sessions)' || true
}
# profiles: pptpd's heap and goroutine profiles into OUT, replacing the
# previous sample's (no forced GC: the heap profile is as of the last one).
profiles() {
	[ -n "$OUT" ] && [ -n "$PROFILE" ] || return 0
	ip netns exec $S curl -sf -o "$OUT/pptpd.heap.pprof.new" "http://$PPROF/debug/pprof/heap" &&
		mv "$OUT/pptpd.heap.pprof.new" "$OUT/pptpd.heap.pprof" || true
	ip netns exec $S curl -sf -o "$OUT/pptpd.goroutine.txt.new" "http://$PPROF/debug/pprof/goroutine?debug=1" &&
		mv "$OUT/pptpd.goroutine.txt.new" "$OUT/pptpd.goroutine.txt" || true
}

sleep 2
RSS0=$(rss_kib $SPID)
CPU0=$(cpu_s $SPID)
log "pptpd up (pid $SPID), empty: RSS $RSS0 KiB"
[ -n "$OUT" ] && metrics >"$OUT/metrics-empty.txt"
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)

ACCOUNT=(-user load1 -password secret-1)
[ "$USERS" -gt 1 ] && ACCOUNT=(-secrets "$WORK/chap-secrets")
log "pptp-load -n $N -rate $RATE -concurrency $CONC -hold $HOLD -ping $PING -mppe $MPPE ($SOURCES source addresses)"
: >"$WORK/load.err"
ip netns exec $C "$WORK/pptp-load" -n "$N" -rate "$RATE" -concurrency "$CONC" -hold "$HOLD" -ping "$PING" \
	-mppe "$MPPE" -lcp-echo-interval "${ECHO}s" -source "$SRCLIST" "${ACCOUNT[@]}" "$SRV" \
	>"$WORK/load.out" 2>"$WORK/load.err" &
LPID=$!
tail -n +1 -f "$WORK/load.err" >&2 &
TPID=$!

# Setup phase: the server's CPU until every session is up.
while kill -0 $LPID 2>/dev/null && ! grep -q 'setup done' "$WORK/load.err"; do sleep 0.2; done
CPU1=$(cpu_s $SPID)
LCPU1=$(cpu_s $LPID 2>/dev/null || echo 0)
# Hold: sample the server's memory until the hold is over; the last
# sample is the plateau (sessions idle but for LCP echo and pings).
RSSMAX=0 RSSLAST=0 MLAST= LRSS=0
while kill -0 $LPID 2>/dev/null && ! grep -q 'hold over' "$WORK/load.err"; do
	r=$(rss_kib $SPID)
	RSSLAST=$r
	[ "$r" -gt "$RSSMAX" ] && RSSMAX=$r
	MLAST=$(metrics)
	profiles
	LRSS=$(rss_kib $LPID 2>/dev/null || echo 0)
	sleep 5
done
CPU2=$(cpu_s $SPID)
set +e
wait $LPID
LRC=$?
set -e
LPID=
kill $TPID 2>/dev/null || true
TPID=
[ -n "$OUT" ] && printf '%s\n' "$MLAST" >"$OUT/metrics-held.txt"
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)
kill -TERM $SPID
wait $SPID || true
SPID=

echo
cat "$WORK/load.out"
UP=$(sed -n 's/^sessions: up=\([0-9]*\).*/\1/p' "$WORK/load.out")
UP=${UP:-0}
echo
echo "server (pptpd, $(nproc) cores shared with pptp-load; load average $LOAD0 before, $LOAD1 at the end of the hold):"
echo "  CPU for the setup phase:    $(awk -v a="$CPU0" -v b="$CPU1" 'BEGIN {printf "%.1f s", b - a}') (pptp-load: $LCPU1 s)"
echo "  CPU during the hold:        $(awk -v a="$CPU1" -v b="$CPU2" 'BEGIN {printf "%.1f s", b - a}')"
echo "  RSS empty:                  $RSS0 KiB"
echo "  RSS held (last / max):      $RSSLAST / $RSSMAX KiB"
if [ "$UP" -gt 0 ]; then
	echo "  RSS per held session:       $(awk -v a="$RSS0" -v b="$RSSLAST" -v n="$UP" 'BEGIN {printf "%.1f KiB", (b - a) / n}')"
fi
echo "  (pptp-load RSS held:        $LRSS KiB)"
if [ -n "$MLAST" ]; then
	echo "  runtime at the plateau:"
	printf '%s\n' "$MLAST" | sed 's/^/    /'
fi
exit $LRC
}
