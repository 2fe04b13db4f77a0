#!/usr/bin/env bash
# throughput.sh: the data-plane benchmark, in one command.
#
# Two network namespaces joined by one veth pair. On that same link, in one
# run, it measures TCP throughput with iperf3 over:
#   - the raw veth (the ceiling),
#   - our tunnel (pptpd <-> pptp): no MPPE, MPPE-128 stateless, MPPE-128
#     stateful,
#   - wireguard-go (pinned below) configured with wg,
# each with 1 and 4 streams, plus ping round-trip time at idle and under
# load, and the CPU seconds the tunnel processes spend per GB moved. It
# prints one table; only ratios within one run mean anything, because both
# tunnel ends, iperf3's client and its server share the machine's cores.
#
# Usage: sudo bench/throughput.sh [-t SECONDS]   (default 10 s per run)
# Environment: ONLY=REGEX runs only the paths whose name matches (raw and
# wireguard-go always run: the ratios need them); PROFILE=DIR writes CPU
# profiles of pptpd and pptp for each tunnel mode into DIR
# (go tool pprof DIR/pptp-nomppe-pptpd.prof).
# Needs root, iproute2, iperf3, wireguard-tools (wg), ping, python3, Go.
set -euo pipefail

WG_GO_VERSION=v0.0.0-20260522210424-ecfc5a8d5446 # golang.zx2c4.com/wireguard
DURATION=10
while getopts t: opt; do
	case $opt in
	t) DURATION=$OPTARG ;;
	*) echo "usage: $0 [-t SECONDS]" >&2; exit 2 ;;
	esac
done

[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
need=()
command -v iperf3 >/dev/null || need+=(iperf3)
command -v wg >/dev/null || need+=(wireguard-tools)
command -v ping >/dev/null || need+=(iputils-ping)
command -v ip >/dev/null || need+=(iproute2)
if [ ${#need[@]} -gt 0 ]; then
	DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${need[@]}" >/dev/null
fi

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/gopptp-bench.XXXXXX)
A=gpbA$$ B=gpbB$$
RESULTS=$WORK/results
cleanup() {
	for ns in $A $B; do
		for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
		ip netns del "$ns" 2>/dev/null || true
	done
	rm -rf "$WORK"
}
trap cleanup EXIT

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }

log "building gopptp and wireguard-go $WG_GO_VERSION"
(cd "$ROOT" && go build -o "$WORK" ./cmd/pptpd ./cmd/pptp)
GOBIN=$WORK go install "golang.zx2c4.com/wireguard@$WG_GO_VERSION"

ip netns add $A
ip netns add $B
ip link add bA0 type veth peer name bB0
ip link set bA0 netns $A
ip link set bB0 netns $B
ip -n $A addr add 10.77.0.1/24 dev bA0
ip -n $B addr add 10.77.0.2/24 dev bB0
for ns in $A $B; do
	ip -n $ns link set lo up
done
ip -n $A link set bA0 up
ip -n $B link set bB0 up

# cpu_of PID...: user+system CPU seconds of the processes.
cpu_of() {
	local t=0 pid
	for pid in "$@"; do
		[ -r /proc/$pid/stat ] || continue
		t=$((t + $(awk '{print $14 + $15}' /proc/$pid/stat)))
	done
	awk -v t=$t -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.3f", t / hz }' 
}

# ping_avg NS ADDR COUNT: average RTT in ms.
ping_avg() {
	ip netns exec "$1" ping -q -n -c "$3" -i 0.05 "$2" 2>/dev/null |
		awk -F/ '/^rtt/ {print $5}'
}

# measure NAME ADDR STREAMS PIDS...: one iperf3 run from A to ADDR in B,
# with a ping alongside, appended to $RESULTS.
measure() {
	local name=$1 addr=$2 streams=$3
	shift 3
	local idle load cpu0 cpu1 json
	idle=$(ping_avg $A "$addr" 20)
	ip netns exec $B iperf3 -s -1 -B "$addr" >/dev/null 2>&1 &
	local srv=$!
	sleep 0.5
	cpu0=$(cpu_of "$@")
	ip netns exec $A ping -q -n -c $((DURATION * 10 - 10)) -i 0.1 "$addr" >"$WORK/ping.out" 2>/dev/null &
	local pinger=$!
	json=$(ip netns exec $A iperf3 -c "$addr" -t "$DURATION" -P "$streams" -J)
	cpu1=$(cpu_of "$@")
	wait $pinger || true
	wait $srv || true
	load=$(awk -F/ '/^rtt/ {print $5}' "$WORK/ping.out")
	python3 - "$name" "$streams" "$idle" "${load:-nan}" "$cpu0" "$cpu1" "$#" >>"$RESULTS" <<PY
import json, sys
name, streams, idle, load, cpu0, cpu1, nproc = sys.argv[1:]
d = json.loads('''$json''')
end = d["end"]["sum_received"]
print(json.dumps({"name": name, "streams": int(streams), "bps": end["bits_per_second"],
    "bytes": end["bytes"], "idle_ms": float(idle or "nan"), "load_ms": float(load),
    "cpu": (float(cpu1) - float(cpu0)) if int(nproc) else None,
    "retransmits": d["end"].get("sum_sent", {}).get("retransmits")}))
PY
	log "$(tail -1 "$RESULTS")"
}

log "raw veth"
measure raw 10.77.0.2 1
measure raw 10.77.0.2 4

# Our tunnel: pptpd in B, pptp in A.
echo 'bench pptpd "bench-secret" *' >"$WORK/chap-secrets"
chmod 600 "$WORK/chap-secrets"
cat >"$WORK/pptpd.conf" <<EOF
option $WORK/options
localip 192.168.200.1
remoteip 192.168.200.10-20
listen 10.77.0.2
EOF
run_pptp() {
	local mode=$1 srvopts=$2 cliopts=$3
	[[ $mode =~ ${ONLY:-.} ]] || return 0
	local prof_s= prof_c=
	if [ -n "${PROFILE:-}" ]; then
		mkdir -p "$PROFILE"
		prof_s=GOPPTP_CPUPROFILE=$PROFILE/$mode-pptpd.prof prof_c=GOPPTP_CPUPROFILE=$PROFILE/$mode-pptp.prof
	fi
	printf 'name pptpd\nchap-secrets %s\n%b\n' "$WORK/chap-secrets" "$srvopts" >"$WORK/options"
	ip netns exec $B env $prof_s "$WORK/pptpd" --fg --conf "$WORK/pptpd.conf" >"$WORK/pptpd.log" 2>&1 &
	local spid=$!
	sleep 0.5
	# shellcheck disable=SC2086
	ip netns exec $A env $prof_c "$WORK/pptp" 10.77.0.2 name bench password bench-secret ifname ppp0 $cliopts >"$WORK/pptp.log" 2>&1 &
	local cpid=$!
	for _ in $(seq 100); do grep -q 'local  IP address' "$WORK/pptp.log" && break; sleep 0.1; done
	grep -q 'local  IP address' "$WORK/pptp.log" || { cat "$WORK/pptp.log" "$WORK/pptpd.log" >&2; exit 1; }
	log "tunnel $mode up: $(grep -o 'MPPE[^"]*enabled' "$WORK/pptp.log" || echo 'no MPPE')"
	measure "$mode" 192.168.200.1 1 $spid $cpid
	measure "$mode" 192.168.200.1 4 $spid $cpid
	kill -TERM $cpid
	wait $cpid || true
	kill -TERM $spid
	wait $spid || true
}
run_pptp "pptp-nomppe" 'require-mschap-v2\nnomppe' 'nomppe'
run_pptp "pptp-mppe128-stateless" 'require-mschap-v2\nrequire-mppe-128' ''
run_pptp "pptp-mppe128-stateful" 'require-mschap-v2\nrequire-mppe-128\nmppe-stateful' 'require-mppe-stateful'

# wireguard-go on the same veth. The two daemons need different interface
# names: their control sockets (/var/run/wireguard/NAME.sock) are not
# per namespace.
log "wireguard-go"
umask 077
wg genkey >"$WORK/a.key"
wg genkey >"$WORK/b.key"
wg pubkey <"$WORK/a.key" >"$WORK/a.pub"
wg pubkey <"$WORK/b.key" >"$WORK/b.pub"
ip netns exec $A env WG_PROCESS_FOREGROUND=1 "$WORK/wireguard" wga >"$WORK/wgA.log" 2>&1 &
wgA=$!
ip netns exec $B env WG_PROCESS_FOREGROUND=1 "$WORK/wireguard" wgb >"$WORK/wgB.log" 2>&1 &
wgB=$!
sleep 1
ip netns exec $A wg set wga private-key "$WORK/a.key" listen-port 51820 peer "$(cat "$WORK/b.pub")" allowed-ips 192.168.201.2/32 endpoint 10.77.0.2:51820
ip netns exec $B wg set wgb private-key "$WORK/b.key" listen-port 51820 peer "$(cat "$WORK/a.pub")" allowed-ips 192.168.201.1/32 endpoint 10.77.0.1:51820
ip -n $A addr add 192.168.201.1/24 dev wga
ip -n $B addr add 192.168.201.2/24 dev wgb
ip -n $A link set wga up
ip -n $B link set wgb up
measure wireguard-go 192.168.201.2 1 $wgA $wgB
measure wireguard-go 192.168.201.2 4 $wgA $wgB

python3 - "$RESULTS" "$DURATION" <<'PY'
import json, sys, math
rows = [json.loads(l) for l in open(sys.argv[1])]
by = {(r["name"], r["streams"]): r for r in rows}
print()
print(f"iperf3 TCP, {sys.argv[2]} s per run, one veth pair between two namespaces; ratios are to the same run's raw veth and wireguard-go")
hdr = f'{"path":<24} {"streams":>7} {"Mbit/s":>9} {"x raw":>7} {"x wg-go":>8} {"CPU s/GB":>9} {"ping idle":>10} {"ping load":>10} {"retrans":>8}'
print(hdr)
print("-" * len(hdr))
for r in rows:
    raw = by[("raw", r["streams"])]["bps"]
    wg = by.get(("wireguard-go", r["streams"]), {}).get("bps")
    gb = r["bytes"] / 1e9
    cpu = f'{r["cpu"] / gb:9.2f}' if r["cpu"] is not None and gb else f'{"-":>9}'
    xwg = f'{r["bps"] / wg:8.2f}' if wg else f'{"-":>8}'
    fmt = lambda v: f"{v:8.3f}ms" if not math.isnan(v) else f'{"-":>10}'
    print(f'{r["name"]:<24} {r["streams"]:>7} {r["bps"] / 1e6:9.0f} {r["bps"] / raw:7.2f} {xwg} {cpu} {fmt(r["idle_ms"])} {fmt(r["load_ms"])} {r["retransmits"] if r["retransmits"] is not None else "-":>8}')
PY
