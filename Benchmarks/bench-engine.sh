#!/usr/bin/env bash
# make bench-engine: the process engine against its own baselines, measured in the same run.
#
# One `junction run` (release build) with the embedded broker and three bench processes
# (Benchmarks/engine/Processes), one nginx on loopback answering 204 to every POST, and:
#   1. broker 1→1: QoS 1, 64 B, publisher to subscriber through the embedded broker alone;
#   2. MQTT → MQTT: the same load, for as long, through the `relay` process (Listen QoS 1 →
#      Send QoS 1); ratio = 2 / 1 (goal ≥ 0.5);
#   3. plain libcurl: a C loop (Benchmarks/curl-loop.c, one kept-alive handle) POSTing 64 B to nginx;
#   4. MQTT → HTTP: messages published QoS 1 to the `post` process, which POSTs each to nginx;
#      documents/s from the first publish to nginx's last logged request; ratio = 4 / 3 (goal ≥ 0.5);
#   5. latency: 1,000 msg/s through the `latency` process (MQTT Listen → HTTP Send) to the load
#      generator's own HTTP sink: p50/p99 from publish to HTTP arrival, one monotonic clock.
# Tracking stays on, as in production: every document writes its JSON lines.
#
# Environment: BENCH_SECONDS (default 5) seconds of publishing in the broker and relay rows;
# BENCH_MESSAGES (default 100000) messages of the libcurl loop and through the `post` process; BENCH_LATENCY_SECONDS (default 10); BENCH_WARMUP (default 20000)
# messages through the broker and the relay before rows 1 and 2, not counted. Expects the release build
# (`swift build -c release --product junction`, the Makefile target does it) and nginx.
set -euo pipefail

cd "$(dirname "$0")/.."
seconds=${BENCH_SECONDS:-5}
messages=${BENCH_MESSAGES:-100000}
latency_seconds=${BENCH_LATENCY_SECONDS:-10}
warmup=${BENCH_WARMUP:-20000}
junction=${JUNCTION:-.build/release/junction}
nginx=${NGINX:-/usr/sbin/nginx}

[ -x "$junction" ] || { echo "bench-engine: $junction is missing: swift build -c release --product junction" >&2; exit 1; }
[ -x "$nginx" ] || { echo "bench-engine: $nginx is missing (apt-get install nginx)" >&2; exit 1; }

bench_name=bench-engine
source Benchmarks/lib.sh

port_b=$(free_port); port_n=$(free_port); port_s=$(free_port); port_a=$(free_port)

cc -O2 -o "$work/curl-loop" Benchmarks/curl-loop.c $(pkg-config --cflags --libs libcurl)

# nginx: one worker, every POST answered 204, one access-log line per request with its time.
mkdir -p "$work/nginx"
cat > "$work/nginx/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
error_log $work/nginx/error.log warn;
pid $work/nginx/nginx.pid;
events { worker_connections 1024; }
http {
  log_format bench '\$msec';
  access_log $work/nginx/access.log bench;
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fastcgi;
  uwsgi_temp_path $work/nginx/uwsgi;
  scgi_temp_path $work/nginx/scgi;
  keepalive_requests 10000000;
  keepalive_timeout 60s;
  server {
    listen 127.0.0.1:$port_n;
    location / { return 204; }
  }
}
EOF
"$nginx" -p "$work/nginx" -c "$work/nginx/nginx.conf" > "$work/nginx.out" 2>&1 &
pid_n=$!
child_pids+=("$pid_n")

# The daemon: the embedded broker, the nginx and sink connectors, the three bench processes.
mkdir -p "$work/Connectors" "$work/Processes"
sed "s/@PORT@/$port_b/" Benchmarks/engine/Connectors/bench-broker.json > "$work/Connectors/bench-broker.json"
sed "s/@PORT@/$port_n/" Benchmarks/engine/Connectors/nginx.json > "$work/Connectors/nginx.json"
sed "s/@PORT@/$port_s/" Benchmarks/engine/Connectors/sink.json > "$work/Connectors/sink.json"
cp Benchmarks/engine/Processes/*.json "$work/Processes/"
"$junction" run --processes "$work/Processes" --connectors "$work/Connectors" --data "$work/data" \
  --admin-port "$port_a" --log-level warning > "$work/junction.log" 2>&1 &
pid_j=$!
child_pids+=("$pid_j")

wait_port "$port_n" "$pid_n" nginx
wait_port "$port_b" "$pid_j" junction
# Ready once every process runs (its in-process subscription exists).
for i in $(seq 100); do
  curl -fs "http://127.0.0.1:$port_a/ready" > /dev/null && break
  sleep 0.1
done

echo "bench-engine: junction run (pid $pid_j, broker port $port_b) with Benchmarks/engine/Processes; $("$nginx" -v 2>&1) on $port_n"
echo "bench-engine: load average at start $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')"

# bench NAME ARGS...: `junction bench` against the embedded broker, JSON summary in $work/NAME.json.
bench() {
  local name=$1
  shift
  run_bench "$work/$name.json" "$name" "$@" -p "$port_b" --broker-pid "$pid_j" --client-prefix "$name"
  kill -0 "$pid_j" 2>/dev/null || { echo "bench-engine: junction DIED during $name" >&2; cat "$work/junction.log" >&2; exit 1; }
  echo "bench-engine: $name done" >&2
  sleep 1
}

# Warm-up, not counted: the first messages through a fresh daemon also grow the store's files
# and the allocator's pools.
bench warmup-broker scenario -P 1 -S 1 -t bench/direct -f bench/direct -q 1 -s 64 -L "$warmup" --inflight 100 --drain 30
bench warmup-relay scenario -P 1 -S 1 -t bench/in/0 -f 'bench/out/#' --fan-out 1 -q 1 -s 64 -L "$warmup" --inflight 100 --drain 60
bench broker scenario -P 1 -S 1 -t bench/direct -f bench/direct -q 1 -s 64 -d "$seconds" --inflight 100 --drain 30
bench relay scenario -P 1 -S 1 -t bench/in/0 -f 'bench/out/#' --fan-out 1 -q 1 -s 64 -d "$seconds" --inflight 100 --drain 120

"$work/curl-loop" "http://127.0.0.1:$port_n/baseline" "$messages" 64 > "$work/curl.json"
echo "bench-engine: curl-loop done" >&2
sleep 1

# MQTT → HTTP: publish every message (the broker acknowledges at once and queues them for the
# process), then wait for nginx to have logged them all.
: > "$work/nginx/access.log"
start=$(date +%s.%N)
bench post pub -c 1 -t bench/http/0 -q 1 -s 64 -L "$messages" --inflight 100
deadline=$((SECONDS + 300))
while [ "$(wc -l < "$work/nginx/access.log")" -lt "$messages" ]; do
  [ "$SECONDS" -lt "$deadline" ] || { echo "bench-engine: nginx got only $(wc -l < "$work/nginx/access.log") of $messages requests" >&2; break; }
  sleep 0.2
done
python3 - "$work/nginx/access.log" "$start" "$messages" > "$work/http.json" <<'EOF'
import json, sys
lines = [float(l) for l in open(sys.argv[1]) if l.strip()]
start, expected = float(sys.argv[2]), int(sys.argv[3])
seconds = max(lines) - start if lines else 0
print(json.dumps({"requests": len(lines), "expected": expected, "seconds": seconds,
                  "rate": len(lines) / seconds if seconds > 0 else 0}))
EOF
echo "bench-engine: MQTT → HTTP done" >&2
sleep 1

bench latency scenario -P 1 -S 0 --http-sink "$port_s" -h 127.0.0.1 -t bench/lat/0 -q 1 -s 64 -r 1000 -d "$latency_seconds" --drain 30

echo "bench-engine: load average at end $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')"
grep -E "error|critical" "$work/junction.log" | head -5 >&2 || true

python3 - "$work" <<'EOF'
import json, os, sys
work = sys.argv[1]
def load(name):
    with open(os.path.join(work, name)) as f: return json.load(f)
broker, relay, curl, http, lat = (load(n) for n in ("broker.json", "relay.json", "curl.json", "http.json", "latency.json"))
def rate(s, key):
    return None if s.get("failed") else s.get(key)
rows = []
b, r = rate(broker, "deliveredRate"), rate(relay, "deliveredRate")
c, h = curl.get("rate"), http.get("rate")
rows.append(("broker alone, QoS 1 1→1, 64 B", f"{b:,.0f} msg/s" if b else "n/a", "", ""))
rows.append(("MQTT → MQTT through a process, QoS 1", f"{r:,.0f} msg/s" if r else "n/a",
             f"{r / b:.2f}× of the broker" if r and b else "n/a", "≥ 0.5"))
rows.append(("plain libcurl loop → nginx, 64 B POST", f"{c:,.0f} req/s" if c else "n/a", "", ""))
rows.append(("MQTT → HTTP through a process → nginx", f"{h:,.0f} docs/s" if h else "n/a",
             f"{h / c:.2f}× of the libcurl loop" if h and c else "n/a", "≥ 0.5"))
l = None if lat.get("failed") else lat.get("latency")
if l:
    rows.append(("latency publish → HTTP arrival @ 1,000 msg/s", f"p50 {l['p50Us'] / 1000:.3f} ms", f"p99 {l['p99Us'] / 1000:.3f} ms",
                 f"max {l['maxUs'] / 1000:.3f} ms"))
widths = [max(len(row[i]) for row in rows) for i in range(4)]
print()
print("Junction engine benchmark (same run, same machine)")
for row in rows: print("  ".join(c.ljust(w) for c, w in zip(row, widths)))
print()
print("Delivery check")
for name, s in (("broker", broker), ("relay", relay), ("latency", lat)):
    if s.get("failed"): print(f"  {name}: FAILED"); continue
    print(f"  {name}: sent {s['sent']:,}, received {s['received']:,}, lost {s.get('lost')}, duplicates {s['duplicates']}, out of order {s['outOfOrder']}")
print(f"  curl loop: {curl['requests']:,} requests, {curl['failures']} failures")
print(f"  MQTT → HTTP: nginx logged {http['requests']:,} of {http['expected']:,}")
EOF
