#!/usr/bin/env bash
# Load benchmark of hello-ship's own overhead. Builds release binaries, starts
# a fake OpenAI-compatible upstream and hello-ship on free 127.0.0.1 ports,
# sends the same load straight to the upstream and through hello-ship, and
# prints the added latency, added time to first token, errors, CPU and
# resident memory. Raw results go to target/bench-results/<time>/ (under
# CARGO_TARGET_DIR when set).
#
#   bench/run.sh            every scenario, 3 repetitions (about 7 minutes)
#   bench/run.sh --quick    one short scenario, to check that it all starts
#   bench/run.sh --held-streams   idle memory, memory after one request and
#                                 held streams only
#
# Environment: BENCH_SECS (seconds per scenario, default 10), BENCH_REPEAT
# (default 3), BENCH_STREAMS (streams held open over HTTP/1.1 upstream
# connections, default 2000), BENCH_H2_STREAMS (streams held open over one
# HTTP/2 upstream connection, default 10000), BENCH_GATEWAY_BIN
# (a hello-ship binary to measure in place of a fresh release build, e.g. to
# compare two builds).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

quick=0
held_only=0
case "${1:-}" in
  --quick) quick=1 ;;
  --held-streams) held_only=1 ;;
  "") ;;
  *) echo "usage: bench/run.sh [--quick | --held-streams]" >&2; exit 2 ;;
esac
secs=${BENCH_SECS:-10}
repeat=${BENCH_REPEAT:-3}
streams=${BENCH_STREAMS:-2000}
h2_streams=${BENCH_H2_STREAMS:-10000}
if [[ $quick == 1 ]]; then
  secs=2
  repeat=1
fi

target_dir=${CARGO_TARGET_DIR:-$root/target}
out="$target_dir/bench-results/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out"
results="$out/results.jsonl"

echo "== build (release)"
if [[ -z ${BENCH_GATEWAY_BIN:-} ]]; then
  cargo build --release --locked -p hello-ship
fi
cargo build --release --locked --manifest-path bench/Cargo.toml --target-dir "$target_dir/bench"
gateway_bin=${BENCH_GATEWAY_BIN:-$target_dir/release/hello-ship}
upstream_bin="$target_dir/bench/release/fake-upstream"
loadgen="$target_dir/bench/release/loadgen"

# Each held stream takes one descriptor in the load generator and one or two
# in hello-ship (the client's connection, and its own upstream connection
# unless the upstream speaks HTTP/2).
ulimit -n "$(ulimit -Hn)" || true

pids=()
cleanup() {
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
}
trap cleanup EXIT

# Waits up to 10 s for a line matching $2 in file $1 and prints it.
wait_for_line() {
  local file=$1 pattern=$2
  for _ in $(seq 100); do
    if grep -m1 -E "$pattern" "$file" 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  echo "timed out waiting for /$pattern/ in $file" >&2
  cat "$file" >&2
  return 1
}

echo "== start the fake upstream"
"$upstream_bin" --tokens 50 --hold-secs 120 >"$out/upstream.out" 2>"$out/upstream.err" &
pids+=($!)
upstream=$(wait_for_line "$out/upstream.out" '^listening on ' | awk '{print $3}')

echo "== start hello-ship"
key=bench-key
key_hash=$(printf %s "$key" | sha256sum | awk '{print $1}')
cat >"$out/hello-ship.toml" <<EOF
[server]
listen = "127.0.0.1:0"
heartbeat_secs = 1
write_timeout_secs = 5

[limits]
rpm_per_tenant = 100000000
rpm_per_user = 100000000

[state]
backend = "memory"

[[tenants]]
id = "bench"
key_sha256 = "$key_hash"
rpm = 100000000

[[routes]]
name = "upstream"
provider = "openai-compatible"
model = "gpt-4o-mini"
base_url = "http://$upstream/v1"
api_key_env = "HELLO_SHIP_BENCH_UPSTREAM_KEY"

[[routes]]
name = "hold"
provider = "openai-compatible"
model = "bench-hold"
base_url = "http://$upstream/v1"
api_key_env = "HELLO_SHIP_BENCH_UPSTREAM_KEY"
timeouts = { connect_ms = 5000, first_token_ms = 30000, idle_ms = 600000, total_ms = 600000 }

# The same upstream over HTTP/2 (h2c): every held stream shares one upstream
# connection, as calls to an HTTPS provider that offers HTTP/2 do.
[[routes]]
name = "hold-h2"
provider = "openai-compatible"
model = "bench-hold"
base_url = "http://$upstream/v1"
api_key_env = "HELLO_SHIP_BENCH_UPSTREAM_KEY"
http2_prior_knowledge = true
timeouts = { connect_ms = 5000, first_token_ms = 30000, idle_ms = 600000, total_ms = 600000 }

[[routes]]
name = "long"
provider = "openai-compatible"
model = "bench-long"
base_url = "http://$upstream/v1"
api_key_env = "HELLO_SHIP_BENCH_UPSTREAM_KEY"
timeouts = { connect_ms = 5000, first_token_ms = 30000, idle_ms = 600000, total_ms = 600000 }

[models.default]
chain = ["upstream"]

[models.hold]
chain = ["hold"]

[models.hold-h2]
chain = ["hold-h2"]

[models.long]
chain = ["long"]

# Every failure must show up as an error, not as a degraded 200.
[degraded]
enabled = false
EOF
# Starts a hello-ship process logging to $out/$1.log and sets gateway (its
# address) and gateway_pid.
start_gateway() {
  HELLO_SHIP_BENCH_UPSTREAM_KEY=dummy "$gateway_bin" serve --config "$out/hello-ship.toml" \
    >"$out/$1.log" 2>"$out/$1.err" &
  gateway_pid=$!
  pids+=("$gateway_pid")
  gateway=$(wait_for_line "$out/$1.log" '"server_started"' | jq -r .listen)
  sleep 1
}

# Stops the hello-ship process gateway_pid and removes it from pids, so that
# the exit trap never signals a reused process id.
stop_gateway() {
  local pid remaining=()
  kill "$gateway_pid"
  wait "$gateway_pid" 2>/dev/null || true
  for pid in "${pids[@]}"; do
    [[ $pid == "$gateway_pid" ]] || remaining+=("$pid")
  done
  pids=("${remaining[@]}")
}

start_gateway hello-ship
idle_kib=$(awk '/^VmRSS:/ {print $2}' "/proc/$gateway_pid/status")
jq -nc --argjson kib "$idle_kib" '{mode: "idle", rss_kib: $kib}' >>"$results"
echo "upstream $upstream, hello-ship $gateway (pid $gateway_pid), idle VmRSS $idle_kib KiB"

clock_ticks=$(getconf CLK_TCK)
auth="authorization: Bearer $key"
direct_body='{"model":"bench-1","messages":[{"role":"user","content":"Say hello to the benchmark."}],"max_tokens":1024}'
direct_stream_body='{"model":"bench-1","messages":[{"role":"user","content":"Say hello to the benchmark."}],"max_tokens":1024,"stream":true,"stream_options":{"include_usage":true}}'
gateway_body='{"message":"Say hello to the benchmark."}'

# One rate scenario, straight to the upstream and then through hello-ship.
run_pair() {
  local name=$1 rps=$2 stream=$3 rep=$4
  local direct_args=(--url "http://$upstream/v1/chat/completions" --body "$direct_body")
  local gateway_args=(--url "http://$gateway/chat" --header "$auth" --body "$gateway_body")
  if [[ $stream == 1 ]]; then
    direct_args=(--url "http://$upstream/v1/chat/completions" --body "$direct_stream_body"
      --stream --first-marker '"content":' --end-marker 'data: [DONE]')
    gateway_args=(--url "http://$gateway/chat/stream" --header "$auth" --body "$gateway_body"
      --stream --first-marker '{"token":' --end-marker 'event: done')
  fi
  "$loadgen" rate --rps "$rps" --secs "$secs" --label "$name direct" "${direct_args[@]}" |
    jq -c --arg scenario "$name" --argjson rep "$rep" '. + {scenario: $scenario, target: "direct", rep: $rep}' |
    tee -a "$results"
  "$loadgen" rate --rps "$rps" --secs "$secs" --label "$name gateway" "${gateway_args[@]}" \
    --pid "$gateway_pid" --clock-ticks "$clock_ticks" |
    jq -c --arg scenario "$name" --argjson rep "$rep" '. + {scenario: $scenario, target: "gateway", rep: $rep}' |
    tee -a "$results"
}

# Holds streams open with heartbeats and records hello-ship's memory: first
# $streams with an HTTP/1.1 upstream connection each, then $h2_streams over
# one HTTP/2 upstream connection. The load generator opens 1,000 streams per
# second and keeps them open until 10 s after the last one opened.
#
# Each scenario gets a hello-ship process of its own, because freed heap stays
# with the process and would hide the next scenario's growth. One request
# first loads the tokenizer, so the figure per stream leaves it out.
hold_streams() {
  local model count main_gateway=$gateway main_pid=$gateway_pid
  for model in hold hold-h2; do
    count=$streams
    [[ $model == hold-h2 ]] && count=$h2_streams
    echo "== $count streams held open with heartbeats (model $model)"
    start_gateway "hello-ship-$model"
    curl -fsS -o /dev/null -H "$auth" -H 'content-type: application/json' \
      -d "$gateway_body" "http://$gateway/chat"
    "$loadgen" hold --url "http://$gateway/chat/stream" --header "$auth" \
      --body "{\"message\":\"Hold this stream open.\",\"model\":\"$model\"}" \
      --count "$count" --secs $((count / 1000 + 10)) --pid "$gateway_pid" --label "$model" |
      jq -c --arg scenario "open streams ($model)" '. + {scenario: $scenario}' | tee -a "$results"
    stop_gateway
  done
  gateway=$main_gateway
  gateway_pid=$main_pid
}

if [[ $held_only == 1 ]]; then
  # One request loads the tokenizer if the input is counted with one, so the
  # held streams start from the memory of a server that has served a request.
  curl -fsS -o /dev/null -H "$auth" -H 'content-type: application/json' \
    -d "$gateway_body" "http://$gateway/chat"
  first_kib=$(awk '/^VmRSS:/ {print $2}' "/proc/$gateway_pid/status")
  jq -nc --argjson kib "$first_kib" '{mode: "after first request", rss_kib: $kib}' | tee -a "$results"
  hold_streams
elif [[ $quick == 1 ]]; then
  echo "== quick: non-streaming at 200 requests per second for ${secs} s"
  run_pair "quick 200 rps" 200 0 1
else
  for rep in $(seq "$repeat"); do
    echo "== repetition $rep of $repeat"
    for rps in 500 1000 2000; do
      run_pair "chat $rps rps" "$rps" 0 "$rep"
    done
    run_pair "stream 100/s, 50 tokens" 100 1 "$rep"
  done

  hold_streams

  # The clients read nothing after the response head. The bounded event
  # channel and TCP backpressure should pause the upstream within seconds, and
  # write_timeout_secs (5 above) should then close each connection and drop its
  # upstream call, long before the upstream could send all its tokens.
  echo "== 4 clients that stop reading a 1,000,000-token stream"
  "$loadgen" slow --url "http://$gateway/chat/stream" --header "$auth" \
    --body '{"message":"Stream a very long answer.","model":"long"}' \
    --count 4 --secs 20 --pid "$gateway_pid" --label "slow" |
    jq -c '. + {scenario: "slow clients"}' | tee -a "$results"
  sed -n 's/^long_stream_ended /upstream stream dropped: /p' "$out/upstream.err"
  grep -c '"client_write_timed_out"' "$out/hello-ship.log" |
    sed 's/^/hello-ship write timeouts: /'
fi

if [[ $held_only == 0 ]]; then
  echo "== summary (medians over repetitions; added = hello-ship minus direct in the same repetition)"
  python3 "$root/bench/summarize.py" "$results" | tee "$out/summary.md"
fi
echo "raw results: $results"

errors=$(jq -s '[.[] | .errors // 0] | add' "$results")
if [[ $errors != 0 ]]; then
  echo "FAILED: $errors requests failed; see $results" >&2
  exit 1
fi
