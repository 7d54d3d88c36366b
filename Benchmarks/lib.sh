# Sourced by the make bench-* scripts (after `cd` to the repository, with bench_name set): a work
# folder removed at exit, every child stopped whatever happened, free loopback ports.
#   child_pids+=("$!")  after starting a server: SIGTERM at exit, SIGKILL 5 s later
#   bench_pid=$!        while a load generator runs: SIGTERM at exit (a signal ends it at once)
#   run_bench OUT WHAT ARGS...  runs `junction bench` that way (see below)
#   wait_port PORT PID NAME     waits for a server started in the background
work=$(mktemp -d "${TMPDIR:-/tmp}/$bench_name.XXXXXX")
child_pids=()
bench_pid=

cleanup() {
  local pid i
  [ -n "$bench_pid" ] && kill -TERM "$bench_pid" 2>/dev/null || true
  for pid in "${child_pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${child_pids[@]}"; do
    for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# run_bench OUT WHAT ARGS...: `$junction bench ARGS --json --quiet`, its summary in OUT and its errors
# beside it (OUT with .err for .json). In the background with `wait`, so that a signal runs the
# trap at once. A failed run is reported as WHAT and leaves {"failed": true} in OUT.
run_bench() {
  local out=$1 what=$2
  shift 2
  "$junction" bench "$@" --json --quiet > "$out" 2> "${out%.json}.err" &
  bench_pid=$!
  if ! wait "$bench_pid"; then
    echo "$bench_name: $what failed:" >&2
    cat "${out%.json}.err" >&2
    echo '{"failed": true}' > "$out"
  fi
  bench_pid=
}

# wait_port PORT PID NAME: waits (10 s at most) until 127.0.0.1:PORT accepts connections; exits
# with NAME's log ($work/NAME.log or .out) when the server PID exits first or never listens.
wait_port() {
  local port=$1 pid=$2 name=$3 i
  for i in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || { echo "$bench_name: $name exited at start:" >&2; cat "$work/$name.log" "$work/$name.out" 2>/dev/null >&2; exit 1; }
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "$bench_name: $name does not listen on $port" >&2
  cat "$work/$name.log" "$work/$name.out" 2>/dev/null >&2
  exit 1
}
