#!/usr/bin/env bash
# Proves the README's first command on a machine as it comes: with the wasm targets removed,
# `cargo run --release -p twoleg-runner` must build everything it needs and answer SIP on the
# embedded default config (127.0.0.1:5060). Sends OPTIONS until a 200 comes back, then stops
# the runner with SIGTERM. Used by .ci/run before anything else is installed.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf 'first-run: %s\n' "$*"; }

installed=$(rustup target list --installed)
for target in wasm32-unknown-unknown wasm32-wasip2; do
  if grep -qx "$target" <<<"$installed"; then
    log "removing $target, as a fresh machine of this kind comes without it"
    rustup target remove "$target"
  fi
done

output=$(mktemp)
log "running the README's command: cargo run --release -p twoleg-runner"
cargo run --release -p twoleg-runner >"$output" 2>&1 &
runner=$!
stop() {
  kill -TERM "$runner" 2>/dev/null || true
  wait "$runner" 2>/dev/null || true
}
trap stop EXIT

# OPTIONS to the default listener; prints the status line of the answer, if any.
options() {
  python3 - <<'PY'
import socket, uuid
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
port = s.getsockname()[1]
branch = "z9hG4bK" + uuid.uuid4().hex
msg = (
    "OPTIONS sip:twoleg@127.0.0.1:5060 SIP/2.0\r\n"
    f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch={branch};rport\r\n"
    "Max-Forwards: 70\r\n"
    f"From: <sip:ci@127.0.0.1>;tag={uuid.uuid4().hex[:8]}\r\n"
    "To: <sip:twoleg@127.0.0.1>\r\n"
    f"Call-ID: {uuid.uuid4().hex}@127.0.0.1\r\n"
    "CSeq: 1 OPTIONS\r\n"
    "Content-Length: 0\r\n\r\n"
)
s.settimeout(1.0)
s.sendto(msg.encode(), ("127.0.0.1", 5060))
try:
    data, _ = s.recvfrom(65535)
    print(data.split(b"\r\n", 1)[0].decode(errors="replace"))
except socket.timeout:
    pass
PY
}

deadline=$((SECONDS + 1500))
while [ "$SECONDS" -lt "$deadline" ]; do
  if ! kill -0 "$runner" 2>/dev/null; then
    log "the runner exited before answering SIP:"
    tail -50 "$output"
    exit 1
  fi
  answer=$(options || true)
  if [[ "$answer" == "SIP/2.0 200"* ]]; then
    log "answered: $answer (after ${SECONDS}s)"
    grep -E "adding it with|rustup target add" "$output" | head -3 || true
    exit 0
  fi
  sleep 3
done
log "no answer to OPTIONS within 25 minutes:"
tail -50 "$output"
exit 1
