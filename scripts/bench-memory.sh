#!/usr/bin/env bash
# Memory and CPU of the runner under sustained load: the runner (release, embedded default
# config) on loopback, a SIPp callee on 127.0.0.1:5070 and a SIPp caller at RATE calls/s for
# SECONDS seconds (no hold time). Samples the runner's resident memory (VmRSS) and CPU time
# (utime+stime) every second, then lets it idle IDLE seconds. Prints one line per phase.
#   scripts/bench-memory.sh [RATE] [SECONDS] [IDLE] [TWOLEG]
# Loopback only; bounded by RATE x SECONDS calls and SIPp's own 90 s timeout.
set -euo pipefail
rate=${1:-2500} seconds=${2:-60} idle=${3:-60}
twoleg=${4:-target/release/twoleg}
calls=$((rate * seconds))
dir=$(mktemp -d)
runner='' uas=''
cleanup() {
  kill $runner $uas 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT

"$twoleg" run --data-dir "$dir/data" --seed 1 >"$dir/twoleg.log" 2>&1 &
runner=$!
sleep 3
rss() { awk '/VmRSS/ {print $2}' "/proc/$runner/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$runner/stat"; }
hz=$(getconf CLK_TCK)
echo "idle at start: rss=$(( $(rss) / 1024 )) MB"

# SIPp in the background exits 99 after forking; its PID is in what it prints.
sipp -sn uas -i 127.0.0.1 -p 5070 -nostdin -bg -buff_size 4194304 >"$dir/uas.out" 2>&1 || true
uas=$(sed -n 's/.*PID=\[\([0-9]*\)\].*/\1/p' "$dir/uas.out")
[ -n "$uas" ] || { echo "could not start the SIPp callee: $(cat "$dir/uas.out")"; exit 2; }
sleep 0.3
cpu_before=$(cpu_ticks)
sipp -sn uac 127.0.0.1:5060 -i 127.0.0.1 -p 5080 -m "$calls" -r "$rate" -l 20000 -d 0 \
  -nostdin -buff_size 4194304 -timeout $((seconds + 90))s -timeout_error \
  -trace_stat -stf "$dir/stat.csv" >"$dir/uac.out" 2>&1 &
uac=$!
samples=()
peak=0
while kill -0 "$uac" 2>/dev/null; do
  r=$(rss)
  samples+=("$r")
  [ "$r" -gt "$peak" ] && peak=$r
  sleep 1
done
wait "$uac" || true
cpu_after=$(cpu_ticks)
read -r ok failed < <(python3 - "$dir/stat.csv" <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1]), delimiter=';'))
head, last = rows[0], rows[-1]
print(int(last[head.index('SuccessfulCall(C)')]), int(last[head.index('FailedCall(C)')]))
PY
)
n=${#samples[@]}
half=$((n / 2))
steady=$(printf '%s\n' "${samples[@]:$half}" | awk '{s += $1} END {printf "%d", s / NR / 1024}')
cpu_ms=$(( (cpu_after - cpu_before) * 1000 / hz ))
echo "load: rate=$rate/s for ${seconds}s: ok=$ok failed=$failed; rss steady (2nd half)=${steady} MB peak=$((peak / 1024)) MB; cpu=${cpu_ms} ms = $(python3 -c "print(f'{$cpu_ms * 1000 / max($ok, 1):.1f}')") us per call"
for t in $(seq 1 "$idle"); do
  sleep 1
done
echo "after ${idle}s idle: rss=$(( $(rss) / 1024 )) MB"
grep -c "give its memory back" "$dir/twoleg.log" | xargs -I{} echo "engine instances recycled while idle: {}"
