#!/usr/bin/env bash
# make bench-durable: what durable broker state costs. QoS 1 (and QoS 2) 1 publisher → 1 subscriber
# with a persistent session, against, in the same run:
#   - junction broker in memory (no --data): the baseline,
#   - junction broker --data with durability "batch" (the default) and with "sync",
#   - Mosquitto with `persistence true` in a temporary persistence_location.
# Each row runs against every broker in turn with the same release build of `junction bench`
# (subscribers with persistent sessions: --persistent), and the table gives each durable broker's
# rate as a ratio of the in-memory Junction and of Mosquitto.
#
# Environment: BENCH_SECONDS (default 5) seconds of publishing per row; JUNCTION (default
# .build/release/junction); MOSQUITTO (default
# /usr/sbin/mosquitto). Expects `swift build -c release --product junction` (the Makefile target does it).
set -euo pipefail

cd "$(dirname "$0")/.."
seconds=${BENCH_SECONDS:-5}
mosquitto=${MOSQUITTO:-/usr/sbin/mosquitto}
junction=${JUNCTION:-.build/release/junction}

[ -x "$junction" ] || { echo "bench-durable: $junction is missing: swift build -c release --product junction" >&2; exit 1; }
[ -x "$mosquitto" ] || { echo "bench-durable: $mosquitto is missing (apt-get install mosquitto)" >&2; exit 1; }

bench_name=bench-durable
source Benchmarks/lib.sh

declare -A port pid
for broker in memory batch sync mosquitto; do
  p=$(free_port)
  while [[ " ${port[*]:-} " == *" $p "* ]]; do p=$(free_port); done
  port[$broker]=$p
done

mkdir -p "$work/mosquitto-data" "$work/batch-data" "$work/sync-data"
cat > "$work/mosquitto.conf" <<EOF
listener ${port[mosquitto]} 127.0.0.1
allow_anonymous true
persistence true
persistence_location $work/mosquitto-data/
max_queued_messages 100000
max_inflight_messages 100
log_type none
EOF
for broker in memory batch sync; do
  durability=$broker
  [ "$broker" = memory ] && durability=batch
  cat > "$work/$broker.json" <<EOF
{
  "type": "mqtt-broker",
  "description": "make bench-durable: limits comparable to the Mosquitto configuration",
  "listeners": [{"host": "127.0.0.1", "port": ${port[$broker]}}],
  "mqtt": {"maxMqueueLen": 100000, "maxInflight": 100, "sysInterval": "off", "durability": "$durability"}
}
EOF
done

"$mosquitto" -c "$work/mosquitto.conf" > "$work/mosquitto.log" 2>&1 &
pid[mosquitto]=$!
child_pids+=("${pid[mosquitto]}")
"$junction" broker --config "$work/memory.json" --log-level warning > "$work/memory.log" 2>&1 &
pid[memory]=$!
child_pids+=("${pid[memory]}")
for broker in batch sync; do
  "$junction" broker --config "$work/$broker.json" --data "$work/$broker-data" --log-level warning > "$work/$broker.log" 2>&1 &
  pid[$broker]=$!
  child_pids+=("${pid[$broker]}")
done

for broker in memory batch sync mosquitto; do wait_port "${port[$broker]}" "${pid[$broker]}" "$broker"; done

echo "bench-durable: $("$mosquitto" -h 2>/dev/null | head -1 || true) with persistence, junction broker in memory, with --data batch and sync"
echo "bench-durable: MQTT 3.1.1, $seconds s per row, persistent-session subscriber, load generator: junction bench (1 thread)"
echo "bench-durable: load average at start $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')"

# run_row NAME BENCH-ARGS...: the same bench against every broker; JSON in $work/NAME.BROKER.json.
run_row() {
  local name=$1 broker out
  shift
  for broker in memory batch sync mosquitto; do
    kill -0 "${pid[$broker]}" 2>/dev/null || { echo "bench-durable: $broker is no longer running (before row $name)" >&2; cat "$work/$broker.log" >&2; exit 1; }
    out="$work/$name.$broker.json"
    run_bench "$out" "row $name against $broker" "$@" -p "${port[$broker]}" --broker-pid "${pid[$broker]}" --client-prefix "$name" --persistent
    printf 'bench-durable: %-5s %-9s done\n' "$name" "$broker" >&2
    sleep 1
  done
}

# Publisher window 100 = the brokers' max inflight.
run_row qos1 scenario -P 1 -S 1 -t bench/qos1 -f bench/qos1 -q 1 -s 64 -d "$seconds" --inflight 100 --drain 30
run_row qos2 scenario -P 1 -S 1 -t bench/qos2 -f bench/qos2 -q 2 -s 64 -d "$seconds" --inflight 100 --drain 30

echo "bench-durable: load average at end $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')"
du -sh "$work/batch-data" "$work/sync-data" "$work/mosquitto-data" 2>/dev/null | sed 's/^/bench-durable: store size /' || true

python3 - "$work" <<'EOF'
import json, os, sys

work = sys.argv[1]
def load(row, broker):
    with open(os.path.join(work, f"{row}.{broker}.json")) as f:
        return json.load(f)

def rate(s):
    return None if s.get("failed") else s["deliveredRate"]

brokers = [("memory", "Junction in memory"), ("batch", "Junction --data, batch"),
           ("sync", "Junction --data, sync"), ("mosquitto", "Mosquitto, persistence true")]
print()
print("QoS 1/2, 1 publisher → 1 persistent-session subscriber, 64 B: delivered msg/s and ratios")
header = ("row", "broker", "msg/s", "× Junction in memory", "× Mosquitto persistent", "lost", "dup", "broker CPU s/1M")
table = []
problems = []
for row in ("qos1", "qos2"):
    base = rate(load(row, "memory"))
    mosq = rate(load(row, "mosquitto"))
    for key, label in brokers:
        s = load(row, key)
        r = rate(s)
        if r is None:
            table.append((row, label, "failed", "", "", "", "", "")); problems.append(f"{row}/{key}: run failed"); continue
        vs_mem = f"{r / base:.2f}×" if base else "n/a"
        vs_mosq = f"{r / mosq:.2f}×" if mosq else "n/a"
        cpu = s.get("brokerUsage", {}).get("cpuSecondsPerMillionMessages")
        table.append((row, label, f"{r:,.0f}", vs_mem, vs_mosq, f"{s['lost']:,}", str(s["duplicates"]),
                      f"{cpu:.2f}" if cpu is not None else "n/a"))
        if s["lost"] or s["duplicates"]:
            problems.append(f"{row}/{key}: lost {s['lost']}, duplicates {s['duplicates']}")
widths = [max(len(str(r[i])) for r in [header] + table) for i in range(len(header))]
def line(r): return "  ".join(str(c).ljust(w) if i < 2 else str(c).rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
print(line(header))
print("  ".join("-" * w for w in widths))
for r in table: print(line(r))
print()
batch = rate(load("qos1", "batch")); memory = rate(load("qos1", "memory"))
if batch and memory:
    verdict = "meets" if batch / memory >= 0.5 else "MISSES"
    print(f"QoS 1 with batch durability: {batch / memory:.2f}× the in-memory rate ({verdict} the 0.5× goal)")
if problems:
    print("PROBLEMS:")
    for p in problems: print("  " + p)
else:
    print("No loss or duplicates.")
EOF
