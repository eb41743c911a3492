#!/usr/bin/env bash
# The runner's media plane under load (release build, loopback only): CALLS concurrent anchored
# calls, each with G.711-sized RTP (160-byte payloads) at 50 packets/s in each direction on both
# legs for SECONDS, from the media-load generator (tests/src/bin/media-load.rs), which also
# answers as the callee. MODE srtp: SRTP on the caller's leg (its zone Force encrypted), RTP on
# the callee's (its zone Force unencrypted), so TwoLeg converts every packet; MODE rtp: clear on
# both legs (both zones Force unencrypted), a plain relay. Prints the generator's report (loss, one-way delay through
# TwoLeg) and TwoLeg's CPU time per relayed packet.
#   scripts/bench-media.sh [CALLS] [SECONDS] [MODE]
set -euo pipefail
cd "$(dirname "$0")/.."
calls=${1:-200} seconds=${2:-30} mode=${3:-srtp}
ip=127.0.0.60 caller=127.0.0.61 callee=127.0.0.62
dir=$(mktemp -d)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
cargo build -q --release -p twoleg-runner --bin twoleg
cargo build -q --release -p twoleg-tests --bin media-load
if [ "$mode" = srtp ]; then zone=force_encrypted flag=--srtp; else zone=force_unencrypted flag=; fi
cat >"$dir/twoleg.json" <<JSON
{
  "version": 1,
  "sip": { "listeners": [ { "name": "udp", "address": "$ip:5060" } ] },
  "routes": [ { "name": "callee", "destination": "$callee:5070" } ],
  "zones": [
    { "name": "callers", "peers": ["$caller"], "media_encryption_mode": "$zone" },
    { "name": "callees", "peers": ["$callee"], "media_encryption_mode": "force_unencrypted" }
  ],
  "encryption_b2bua": { "max_calls": 10000, "media_timeout_s": 0 },
  "admin": { "listen": "$ip:8080" },
  "history": { "max_calls": 100 }
}
JSON
target/release/twoleg run --config "$dir/twoleg.json" --data-dir "$dir/data" >"$dir/log" 2>&1 &
pid=$!
for _ in $(seq 100); do curl -sf "http://$ip:8080/healthz" >/dev/null && break; sleep 0.1; done
ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
# UDP datagrams the kernel dropped because a socket's receive buffer was full (any socket).
rcvbuf_errors() { awk '/^Udp: [0-9]/ {print $6}' /proc/net/snmp; }
before=$(ticks) drops_before=$(rcvbuf_errors)
timeout $((seconds + calls / 50 + 60)) target/release/media-load --twoleg "$ip:5060" \
  --caller "$caller" --callee "$callee" --calls "$calls" --seconds "$seconds" $flag
after=$(ticks) drops_after=$(rcvbuf_errors)
relayed=$(curl -sf "http://$ip:8080/metrics" | awk '$1 == "twoleg_media_packets_relayed_total" {print $2}')
awk -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" -v n="$relayed" -v c="$calls" -v s="$seconds" 'BEGIN {
  printf "twoleg: %d packets relayed, %.2f s CPU, %.2f us CPU per packet, %.0f%% of one core\n",
    n, t / hz, n ? t / hz * 1e6 / n : 0, t / hz / s * 100 }'
echo "kernel: $((drops_after - drops_before)) UDP datagrams dropped on full receive buffers (RcvbufErrors)"
