#!/usr/bin/env bash
# make bench-broker: Mosquitto and `junction broker` under the same `junction bench` scenarios.
#
# Both brokers run at once on free loopback ports with comparable limits (queue 100,000 messages
# per session, 100 in flight, no persistence, no logging, no $SYS) and every row runs against
# Mosquitto, then Junction, with the same release build of the load generator. The load generator
# shares the machine with the broker: one event loop thread.
#
# Environment: BENCH_SECONDS (default 5) seconds of publishing per throughput row;
# BENCH_CONNECTIONS (default 10000) idle connections for the memory row; BENCH_VERSION (311 or 5,
# default 311) the MQTT version of every client; MOSQUITTO (default /usr/sbin/mosquitto).
# Expects `swift build -c release --product junction` to have run (the Makefile target does it).
set -euo pipefail

cd "$(dirname "$0")/.."
seconds=${BENCH_SECONDS:-5}
connections=${BENCH_CONNECTIONS:-10000}
version=${BENCH_VERSION:-311}
mosquitto=${MOSQUITTO:-/usr/sbin/mosquitto}
junction=.build/release/junction

[ -x "$junction" ] || { echo "bench-broker: $junction is missing: swift build -c release --product junction" >&2; exit 1; }
[ -x "$mosquitto" ] || { echo "bench-broker: $mosquitto is missing (apt-get install mosquitto)" >&2; exit 1; }

bench_name=bench-broker
source Benchmarks/lib.sh

# The idle-connection row needs a descriptor per connection in the broker and in the generator.
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
limit=$(ulimit -n)
if [ "$limit" != unlimited ] && [ "$limit" -lt $((connections + 200)) ]; then
  connections=$((limit - 200))
  echo "bench-broker: ulimit -n is $limit, using $connections idle connections" >&2
fi

port_m=$(free_port)
port_j=$(free_port)
while [ "$port_j" = "$port_m" ]; do port_j=$(free_port); done

cat > "$work/mosquitto.conf" <<EOF
listener $port_m 127.0.0.1
allow_anonymous true
persistence false
max_queued_messages 100000
max_inflight_messages 100
log_type none
EOF
cat > "$work/junction.json" <<EOF
{
  "type": "mqtt-broker",
  "description": "make bench-broker: limits comparable to the Mosquitto configuration",
  "listeners": [{"host": "127.0.0.1", "port": $port_j}],
  "mqtt": {"maxMqueueLen": 100000, "maxInflight": 100, "sysInterval": "off"}
}
EOF

"$mosquitto" -c "$work/mosquitto.conf" > "$work/mosquitto.log" 2>&1 &
pid_m=$!
child_pids+=("$pid_m")
"$junction" broker --config "$work/junction.json" --log-level warning > "$work/junction.log" 2>&1 &
pid_j=$!
child_pids+=("$pid_j")

wait_port "$port_m" "$pid_m" mosquitto
wait_port "$port_j" "$pid_j" junction

echo "bench-broker: $("$mosquitto" -h 2>/dev/null | head -1 || true) (pid $pid_m, port $port_m) vs junction broker (pid $pid_j, port $port_j)"
echo "bench-broker: MQTT $version, $seconds s per throughput row, $connections idle connections, load generator: junction bench (1 thread)"
# Other work on the machine skews every row: the load average is printed before and after.
echo "bench-broker: load average at start $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')"

# run_row NAME BENCH-ARGS...: the same bench against Mosquitto, then Junction; JSON in $work/NAME.{mosquitto,junction}.json.
run_row() {
  local name=$1 broker port pid out
  shift
  for broker in mosquitto junction; do
    if [ "$broker" = mosquitto ]; then port=$port_m; pid=$pid_m; else port=$port_j; pid=$pid_j; fi
    kill -0 "$pid" 2>/dev/null || { echo "bench-broker: $broker is no longer running (before row $name)" >&2; cat "$work/$broker.log" >&2; exit 1; }
    out="$work/$name.$broker.json"
    run_bench "$out" "row $name against $broker" "$@" -p "$port" -V "$version" --broker-pid "$pid" --client-prefix "$name"
    kill -0 "$pid" 2>/dev/null || { echo "bench-broker: $broker DIED during row $name" >&2; cat "$work/$broker.log" >&2; exit 1; }
    printf 'bench-broker: %-8s %-9s done\n' "$name" "$broker" >&2
    sleep 1
  done
}

# Memory first, while both brokers are fresh.
run_row conn conn -c "$connections" -d 3 --connect-concurrency 100
run_row qos0 scenario -P 1 -S 1 -t bench/qos0 -f bench/qos0 -q 0 -s 64 -d "$seconds" --drain 30
# Publisher window 100 = the brokers' max inflight (the generator's default is 32).
run_row qos1 scenario -P 1 -S 1 -t bench/qos1 -f bench/qos1 -q 1 -s 64 -d "$seconds" --inflight 100 --drain 30
run_row qos2 scenario -P 1 -S 1 -t bench/qos2 -f bench/qos2 -q 2 -s 64 -d "$seconds" --inflight 100 --drain 30
run_row fanout scenario -P 1 -S 50 -t bench/fanout -f bench/fanout -q 0 -s 64 -d "$seconds" --drain 30
run_row fanin scenario -P 50 -S 1 -t 'bench/fanin/%i' -f 'bench/fanin/+' -q 0 -s 64 -d "$seconds" --drain 30
run_row latency scenario -P 1 -S 1 -t bench/latency -f bench/latency -q 1 -s 64 -r 5000 -d "$seconds" --drain 30

echo "bench-broker: load average at end $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')"

python3 - "$work" <<'EOF'
import json, sys, os

work = sys.argv[1]
def load(row, broker):
    with open(os.path.join(work, f"{row}.{broker}.json")) as f:
        return json.load(f)

rows = []  # (label, mosquitto, junction, better, unit)
def add(label, row, pick, better, unit, digits=0):
    m, j = load(row, "mosquitto"), load(row, "junction")
    try: mv = pick(m)
    except Exception: mv = None
    try: jv = pick(j)
    except Exception: jv = None
    rows.append((label, mv, jv, better, unit, digits))

add("QoS 0, 1 pub → 1 sub, 64 B", "qos0", lambda s: s["deliveredRate"], "higher", "msg/s")
add("QoS 1, 1 pub → 1 sub, 64 B", "qos1", lambda s: s["deliveredRate"], "higher", "msg/s")
add("QoS 2, 1 pub → 1 sub, 64 B", "qos2", lambda s: s["deliveredRate"], "higher", "msg/s")
add("fan-out 1 → 50 subs, QoS 0", "fanout", lambda s: s["deliveredRate"], "higher", "deliveries/s")
add("fan-in 50 pubs → 1 sub (+), QoS 0", "fanin", lambda s: s["deliveredRate"], "higher", "msg/s")
add("latency p50 @ 5,000 msg/s QoS 1", "latency", lambda s: s["latency"]["p50Us"] / 1000, "lower", "ms", 3)
add("latency p99 @ 5,000 msg/s QoS 1", "latency", lambda s: s["latency"]["p99Us"] / 1000, "lower", "ms", 3)
add("latency max @ 5,000 msg/s QoS 1", "latency", lambda s: s["latency"]["maxUs"] / 1000, "lower", "ms", 3)
add("RSS per idle connection (%s conns)" % format(load("conn", "junction").get("connections", 0), ","),
    "conn", lambda s: s["brokerUsage"]["rssPerConnectionBytes"], "lower", "bytes")
add("broker RSS with the idle connections", "conn", lambda s: s["brokerUsage"]["rssAfterKB"], "lower", "KB")
for row, label in [("qos0", "QoS 0 1→1"), ("qos1", "QoS 1 1→1"), ("qos2", "QoS 2 1→1"), ("fanout", "fan-out"), ("fanin", "fan-in")]:
    add(f"broker CPU s per 1M delivered, {label}", row, lambda s: s["brokerUsage"]["cpuSecondsPerMillionMessages"], "lower", "s", 2)

def fmt(v, digits):
    if v is None: return "n/a"
    return f"{v:,.{digits}f}"

header = ("row", "Mosquitto", "Junction", "ratio", "ratio is", "unit")
table = []
for label, m, j, better, unit, digits in rows:
    if m is None or j is None or m == 0 or j == 0:
        ratio, how = "n/a", ""
    elif better == "higher":
        ratio, how = f"{j / m:.2f}×", "J/M (higher better)"
    else:
        ratio, how = f"{m / j:.2f}×", "M/J (lower better)"
    table.append((label, fmt(m, digits), fmt(j, digits), ratio, how, unit))
widths = [max(len(str(r[i])) for r in [header] + table) for i in range(len(header))]
def line(r): return "  ".join(str(c).ljust(w) if i in (0, 4, 5) else str(c).rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
print()
print("Mosquitto vs Junction (ratio > 1 means Junction is better in both directions)")
print(line(header))
print("  ".join("-" * w for w in widths))
for r in table: print(line(r))

print()
print("Delivery check per run (lost = expected − received; dup/ooo = duplicates/out of order; gen CPU = load generator CPU s / elapsed s)")
h2 = ("row", "broker", "sent", "received", "expected", "lost", "dup", "ooo", "disc", "pub s", "gen CPU")
t2 = []
problems = []
for row in ("qos0", "qos1", "qos2", "fanout", "fanin", "latency"):
    for broker in ("mosquitto", "junction"):
        s = load(row, broker)
        if s.get("failed"):
            t2.append((row, broker) + ("failed",) * 9); problems.append(f"{row}/{broker}: run failed"); continue
        t2.append((row, broker, f"{s['sent']:,}", f"{s['received']:,}", f"{s['expected']:,}", f"{s['lost']:,}",
                   s["duplicates"], s["outOfOrder"], s["unexpectedDisconnects"], f"{s['publishSeconds']:.2f}",
                   f"{s['loadGeneratorCPUSeconds']:.1f}/{s['elapsedSeconds']:.1f}"))
        if s["qos"] >= 1 and (s["lost"] != 0 or s["duplicates"] != 0):
            problems.append(f"{row}/{broker}: QoS {s['qos']} lost {s['lost']}, duplicates {s['duplicates']}")
        if s["unexpectedDisconnects"]:
            problems.append(f"{row}/{broker}: {s['unexpectedDisconnects']} unexpected disconnects: {s['disconnectReasons']}")
w2 = [max(len(str(r[i])) for r in [h2] + t2) for i in range(len(h2))]
print("  ".join(str(c).ljust(w) if i < 2 else str(c).rjust(w) for i, (c, w) in enumerate(zip(h2, w2))))
for r in t2: print("  ".join(str(c).ljust(w) if i < 2 else str(c).rjust(w) for i, (c, w) in enumerate(zip(r, w2))))
c = load("conn", "mosquitto"), load("conn", "junction")
for broker, s in zip(("mosquitto", "junction"), c):
    if s.get("failed") or s.get("connectFailures"):
        problems.append(f"conn/{broker}: {s.get('connectFailures', 'all')} connections failed")
print()
if problems:
    print("PROBLEMS:")
    for p in problems: print("  " + p)
else:
    print("No loss or duplicates at QoS 1/2, no unexpected disconnects, no failed connections.")
EOF
