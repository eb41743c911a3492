#!/usr/bin/env bash
# SIP over TCP and TLS through the runner (release) on loopback:
#  1. calls per second, SIPp over UDP then over TCP (`-t t1`, both legs) against the same
#     runner, SECONDS at each rate in RATES, failed calls counted;
#  2. TLS handshakes per second: CLIENTS processes each opening TLS 1.3 connections (full
#     handshakes, ECDSA P-256) for 10 s, one OPTIONS answered on each, next to the runner's count;
#  3. memory per idle connection: resident memory before and after IDLE idle TCP connections,
#     then as many idle TLS connections (handshakes done).
#   scripts/bench-streams.sh ["RATES"] [SECONDS] [CLIENTS] [IDLE] [TWOLEG]
# Loopback only (127.0.0.1); every SIPp run is bounded by rate x SECONDS calls and a timeout.
set -euo pipefail
rates=${1:-"1000 2000 3000"} seconds=${2:-10} clients=${3:-2} idle=${4:-2000}
twoleg=${5:-target/release/twoleg}
dir=$(mktemp -d)
pids=()
cleanup() {
  kill "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -subj /CN=twoleg-bench -addext subjectAltName=IP:127.0.0.1 \
  -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null
cat >"$dir/twoleg.json" <<JSON
{
  "version": 1,
  "sip": {
    "listeners": [
      { "name": "udp", "address": "127.0.0.1:5060" },
      { "name": "tcp", "address": "127.0.0.1:5060", "transport": "tcp" },
      { "name": "tls", "address": "127.0.0.1:5061", "transport": "tls",
        "tls": { "certificate_chain": "$dir/cert.pem", "private_key": "$dir/key.pem" } }
    ],
    "connections": { "max": $((idle * 2 + 100)), "idle_timeout_s": 600, "handshake_timeout_ms": 5000 }
  },
  "routes": [
    { "name": "over udp", "match": { "user": { "exact": "udp" } }, "destination": "127.0.0.1:5070", "listener": "udp" },
    { "name": "over tcp", "match": { "user": { "exact": "tcp" } }, "destination": "127.0.0.1:5071", "listener": "tcp" }
  ],
  "history": { "max_calls": 1000 }
}
JSON
"$twoleg" check "$dir/twoleg.json" >/dev/null
"$twoleg" run --config "$dir/twoleg.json" --data-dir "$dir/data" --seed 1 >"$dir/twoleg.log" 2>&1 &
runner=$!
pids+=("$runner")
sleep 3
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$runner/status"; }
metric() { curl -s http://127.0.0.1:8080/metrics | awk -v m="$1" '$1 == m {print $2}'; }

# 1. Calls per second, UDP then TCP.
start_uas() { # PORT TRANSPORT
  sipp -sn uas -i 127.0.0.1 -p "$1" -t "$2" -nostdin -bg -buff_size 4194304 -max_socket 1000 \
    >"$dir/uas-$1.out" 2>&1 || true
  local pid
  pid=$(sed -n 's/.*PID=\[\([0-9]*\)\].*/\1/p' "$dir/uas-$1.out")
  [ -n "$pid" ] || { echo "could not start the SIPp callee: $(cat "$dir/uas-$1.out")"; exit 2; }
  pids+=("$pid")
}
start_uas 5070 u1
start_uas 5071 t1
sleep 0.3
for rate in $rates; do
  for transport in u1 t1; do
    service=$([ "$transport" = u1 ] && echo udp || echo tcp)
    calls=$((rate * seconds))
    rm -f "$dir/stat.csv"
    sipp -sn uac 127.0.0.1:5060 -s "$service" -t "$transport" -i 127.0.0.1 -p 5080 -m "$calls" \
      -r "$rate" -l 2000 -d 0 -nostdin -buff_size 4194304 -max_socket 1000 \
      -timeout $((seconds + 60))s -timeout_error -trace_stat -stf "$dir/stat.csv" \
      >"$dir/uac.out" 2>&1 || true
    read -r ok failed elapsed < <(python3 - "$dir/stat.csv" <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1]), delimiter=';'))
head, last = rows[0], rows[-1]
elapsed = last[head.index('ElapsedTime(C)')].split(':')
seconds = int(elapsed[0]) * 3600 + int(elapsed[1]) * 60 + float(elapsed[2])
print(int(last[head.index('SuccessfulCall(C)')]), int(last[head.index('FailedCall(C)')]), seconds)
PY
)
    echo "calls: $service rate=$rate/s offered=$calls ok=$ok failed=$failed in ${elapsed}s = $(python3 -c "print(round($ok / $elapsed))") completed calls/s"
    sleep 2
  done
done

# 2. TLS handshakes per second: each client opens a TLS connection (a full TLS 1.3 handshake,
#    no resumption), sends one OPTIONS, reads TwoLeg's 200 and closes, for 10 s.
before=$(metric twoleg_connections_opened_total)
failures_before=$(metric twoleg_tls_handshake_failures_total)
tls_clients=()
for i in $(seq 1 "$clients"); do
  python3 - "$i" >"$dir/tls-$i.out" 2>&1 <<'PY' &
import socket, ssl, sys, time
client = sys.argv[1]
context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
context.minimum_version = ssl.TLSVersion.TLSv1_3
context.check_hostname = False
context.verify_mode = ssl.CERT_NONE
ok = failed = 0
end = time.monotonic() + 10
while time.monotonic() < end:
    try:
        with context.wrap_socket(socket.create_connection(("127.0.0.1", 5061), timeout=5)) as tls:
            port = tls.getsockname()[1]
            tls.sendall((f"OPTIONS sip:127.0.0.1:5061;transport=tls SIP/2.0\r\n"
                         f"Via: SIP/2.0/TLS 127.0.0.1:{port};branch=z9hG4bK{client}x{ok}x{failed}\r\n"
                         f"Max-Forwards: 70\r\nFrom: <sip:bench@127.0.0.1>;tag={client}\r\n"
                         f"To: <sip:127.0.0.1>\r\nCall-ID: {client}-{ok}-{failed}@bench\r\n"
                         f"CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n").encode())
            answer = b""
            while b"\r\n\r\n" not in answer:
                chunk = tls.recv(4096)
                if not chunk:
                    break
                answer += chunk
        if answer.startswith(b"SIP/2.0 200"):
            ok += 1
        else:
            failed += 1
    except OSError:
        failed += 1
print(ok, failed)
PY
  tls_clients+=("$!")
done
pids+=("${tls_clients[@]}")
wait "${tls_clients[@]}"
sleep 1
after=$(metric twoleg_connections_opened_total)
failures=$(( $(metric twoleg_tls_handshake_failures_total) - failures_before ))
answered=0 refused=0
for i in $(seq 1 "$clients"); do
  read -r ok failed <"$dir/tls-$i.out" || { cat "$dir/tls-$i.out"; exit 2; }
  answered=$((answered + ok)) refused=$((refused + failed))
done
echo "tls: $clients clients, 10 s: $answered connections answered OPTIONS with 200 ($((answered / 10)) per second), $refused failed; the runner counted $((after - before)) TLS connections up, $failures handshake failures"

# 3. Memory per idle connection.
python3 - "$idle" "$runner" <<'PY'
import socket, ssl, sys, time
count, pid = int(sys.argv[1]), sys.argv[2]
def rss():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1])
def settle():
    time.sleep(3)
    return rss()
base = settle()
tcp = [socket.create_connection(("127.0.0.1", 5060)) for _ in range(count)]
with_tcp = settle()
context = ssl.create_default_context()
context.check_hostname = False
context.verify_mode = ssl.CERT_NONE
tls = [context.wrap_socket(socket.create_connection(("127.0.0.1", 5061))) for _ in range(count)]
with_tls = settle()
print(f"idle: {count} TCP connections: +{(with_tcp - base) / 1024:.1f} MB = {(with_tcp - base) * 1024 / count / 1024:.1f} KB each; "
      f"{count} TLS connections: +{(with_tls - with_tcp) / 1024:.1f} MB = {(with_tls - with_tcp) * 1024 / count / 1024:.1f} KB each "
      f"(resident {base / 1024:.0f} -> {with_tls / 1024:.0f} MB)")
PY
echo "open at the end: $(metric twoleg_connections_open); refused: $(metric twoleg_connections_refused_total)"
