#!/usr/bin/env bash
# spread.sh: what the server's datapath workers bring to several busy
# sessions at once.
#
# pptpd runs in one namespace and N clients (pptp) in N others, each over
# its own veth pair. Every client runs iperf3 TCP to the server's tunnel
# address at the same time, upload (client to server) and then download,
# with MPPE-128 stateless and without MPPE, once with
# "datapath-workers 1" (the socket and TUN readers do everything) and once
# with the given worker count. It prints the sum over the sessions.
#
# Usage: sudo bench/spread.sh [-n SESSIONS] [-w WORKERS] [-t SECONDS] [-r ROUNDS]
#   defaults: 2 sessions, workers auto (one per CPU), 6 s per run, 2 rounds
# Needs root, iproute2, iperf3, python3, Go.
set -euo pipefail

N=2 WORKERS=auto DURATION=6 ROUNDS=2
while getopts n:w:t:r: opt; do
	case $opt in
	n) N=$OPTARG ;;
	w) WORKERS=$OPTARG ;;
	t) DURATION=$OPTARG ;;
	r) ROUNDS=$OPTARG ;;
	*) sed -n '2,/^set /p' "$0" | sed '$d' >&2; exit 2 ;;
	esac
done
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
command -v iperf3 >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends iperf3 >/dev/null

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/gopptp-spread.XXXXXX)
S=gpsS$$
clients=()
for i in $(seq "$N"); do clients+=("gpsC${i}_$$"); done
cleanup() {
	for ns in $S "${clients[@]}"; do
		for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
		ip netns del "$ns" 2>/dev/null || true
	done
	rm -rf "$WORK"
}
trap cleanup EXIT
log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }

log "building gopptp"
(cd "$ROOT" && go build -o "$WORK" ./cmd/pptpd ./cmd/pptp)

echo 'bench pptpd "bench-secret" *' >"$WORK/chap-secrets"
chmod 600 "$WORK/chap-secrets"

# session_up SRVOPTS CLIOPTS WORKERS: a fresh server and N connected clients.
session_up() {
	for ns in $S "${clients[@]}"; do
		for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
		ip netns del "$ns" 2>/dev/null || true
	done
	ip netns add $S
	ip -n $S link set lo up
	local i=0 ns
	for ns in "${clients[@]}"; do
		i=$((i + 1))
		ip netns add "$ns"
		ip -n "$ns" link set lo up
		ip link add "gps$i" type veth peer name "gpc$i"
		ip link set "gps$i" netns $S
		ip link set "gpc$i" netns "$ns"
		ip -n $S addr add "10.80.$i.2/24" dev "gps$i"
		ip -n "$ns" addr add "10.80.$i.1/24" dev "gpc$i"
		ip -n $S link set "gps$i" up
		ip -n "$ns" link set "gpc$i" up
	done
	printf 'option %s/options\nlocalip 192.168.210.1\nremoteip 192.168.210.10-250\ndatapath-workers %s\n' "$WORK" "$3" >"$WORK/pptpd.conf"
	printf 'name pptpd\nchap-secrets %s\n%b\n' "$WORK/chap-secrets" "$1" >"$WORK/options"
	ip netns exec $S "$WORK/pptpd" --fg --conf "$WORK/pptpd.conf" >"$WORK/pptpd.log" 2>&1 &
	disown # killed with its namespace; no job notice
	sleep 0.5
	i=0
	for ns in "${clients[@]}"; do
		i=$((i + 1))
		# shellcheck disable=SC2086
		ip netns exec "$ns" "$WORK/pptp" "10.80.$i.2" name bench password bench-secret ifname ppp0 $2 >"$WORK/pptp$i.log" 2>&1 &
		disown
	done
	for i in $(seq "$N"); do
		for _ in $(seq 100); do grep -q 'local  IP address' "$WORK/pptp$i.log" && break; sleep 0.1; done
		grep -q 'local  IP address' "$WORK/pptp$i.log" || { cat "$WORK/pptp$i.log" "$WORK/pptpd.log" >&2; exit 1; }
		ip netns exec $S iperf3 -s -D -B 192.168.210.1 -p $((5300 + i))
	done
	sleep 0.3
}

# run_all DIRFLAG: all clients' iperf3 at once; prints the sum in Mbit/s.
run_all() {
	local i=0 ns pids=()
	for ns in "${clients[@]}"; do
		i=$((i + 1))
		# shellcheck disable=SC2086
		ip netns exec "$ns" iperf3 -c 192.168.210.1 -p $((5300 + i)) -t "$DURATION" $1 -J >"$WORK/iperf$i.json" &
		pids+=($!)
	done
	wait "${pids[@]}" || true
	python3 - "$WORK" "$N" <<'PY'
import json, sys
work, n = sys.argv[1], int(sys.argv[2])
print(round(sum(json.load(open(f"{work}/iperf{i}.json"))["end"]["sum_received"]["bits_per_second"] for i in range(1, n + 1)) / 1e6))
PY
}

printf '%-6s %-18s %-9s %8s %12s\n' round mode direction workers "sum Mbit/s"
for round in $(seq "$ROUNDS"); do
	for mode in mppe128-stateless nomppe; do
		if [ $mode = nomppe ]; then so='require-mschap-v2\nnomppe' co=nomppe; else so='require-mschap-v2\nrequire-mppe-128' co=; fi
		for w in 1 "$WORKERS"; do
			session_up "$so" "$co" "$w"
			up=$(run_all "")
			down=$(run_all -R)
			printf '%-6s %-18s %-9s %8s %12s\n' "$round" "$mode" upload "$w" "$up"
			printf '%-6s %-18s %-9s %8s %12s\n' "$round" "$mode" download "$w" "$down"
		done
	done
done
