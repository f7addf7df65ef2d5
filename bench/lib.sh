# Shared by the bench scripts (sourced, not run).

# The JIT settings the container ships with (Dockerfile): gateway and floor arms run with them. Tiered compilation
# reaches its final code under load (~10 s at saturation on one core, bench/warmup.sh): measure after a warm-up that long.
container_jit="DOTNET_TieredPGO=1 DOTNET_TC_CallCountingDelayMs=0"
# Seconds of load before a measurement: enough for that tiering.
jit_warmup=16

# need TOOL...: returns if every tool is on the PATH, else exits naming the missing ones and the apt-get line that installs them.
need() {
  local missing=() t
  for t in "$@"; do command -v "$t" >/dev/null || missing+=("$t"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "missing ${missing[*]}: apt-get install -y $(printf '%s\n' "${missing[@]}" | sed 's/^taskset$/util-linux/; s/^redis-cli$/redis-tools/' | sort -u | xargs)" >&2
  exit 1
}

# wait_for URL: until it answers 2xx, at most wait_seconds (60 unless a script sets it: a process under valgrind starts
# in minutes).
wait_seconds=60
wait_for() { for _ in $(seq 1 $((wait_seconds * 10))); do curl -fs "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "not answering: $1" >&2; exit 1; }
# ticks PID...: user+system CPU ticks of the processes so far (getconf CLK_TCK per second).
ticks() { local t=0; for p in "$@"; do t=$(( t + $(awk '{print $14 + $15}' "/proc/$p/stat") )); done; echo $t; }
hz=$(getconf CLK_TCK)
# to_us VALUE: a wrk latency (850.00us, 1.20ms, 2.00s) in whole microseconds.
to_us() { awk -v v="$1" 'BEGIN { n=v+0; if (v ~ /ms$/) n*=1000; else if (v ~ /us$/) n*=1; else if (v ~ /s$/) n*=1000000; printf "%d", n }'; }
# median: of the numbers on stdin, one per line.
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) print 0; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# write_wrk_script FILE BODY [ACCEPT] [BEARER]: a wrk script that POSTs BODY as JSON with the bench key (sk-bench-key),
# or with BEARER (a provider's own key, for a direct arm).
write_wrk_script() {
  cat >"$1" <<LUA
wrk.method = "POST"
wrk.body = '$2'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer ${4:-sk-bench-key}"
LUA
  [ -z "${3:-}" ] || echo "wrk.headers[\"Accept\"] = \"$3\"" >>"$1"
}

# write_gateway_config FILE UPSTREAM_PORT [budget] [cache]: one DeepInfra deployment of model bench-llama at
# 127.0.0.1:UPSTREAM_PORT, key sk-bench-key (provider key from BENCH_DEEPINFRA_KEY), limits too high to bite; with
# "budget", a spending budget too; with "cache", the response cache on for the key.
write_gateway_config() {
  local budget="" cache=""
  [[ " ${*:3} " == *" budget "* ]] && budget=',
              "BudgetUsd": 1000000, "BudgetPeriod": "month"'
  [[ " ${*:3} " == *" cache "* ]] && cache=', "Cache": {}'
  cat >"$1" <<JSON
{
  "Providers": { "deepinfra": { "Kind": "deepinfra", "BaseUrl": "http://127.0.0.1:$2", "ApiKeyEnv": "BENCH_DEEPINFRA_KEY" } },
  "Models": { "bench-llama": { "Deployments": [ { "Provider": "deepinfra", "UpstreamModel": "meta-llama/Meta-Llama-3.1-8B-Instruct",
              "Price": { "InputPerMillion": 0.03, "OutputPerMillion": 0.05 } } ] } },
  "Limits": { "Default": { "RequestsPerMinute": 100000000, "TokensPerMinute": 100000000000, "ConcurrentRequests": 100000$budget } },
  "Keys": { "bench": { "Sha256": "$(printf %s "sk-bench-key" | sha256sum | cut -d' ' -f1)"$cache } }
}
JSON
}

# write_mock_upstream DIR PORT: DIR/mock.conf, an nginx answering DeepInfra's path at 127.0.0.1:PORT with a fixed completion,
# or a fixed 10-chunk stream when asked for SSE, and taking (and dropping) OTLP/HTTP under /otlp/. Its pid goes to DIR/mock.pid.
write_mock_upstream() {
  local completion='{"id":"chatcmpl-mock","object":"chat.completion","created":1700000000,"model":"meta-llama/Meta-Llama-3.1-8B-Instruct","choices":[{"index":0,"message":{"role":"assistant","content":"The quick brown fox jumps over the lazy dog."},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":10,"total_tokens":22,"estimated_cost":0.0000009}}'
  # The stream as nginx will send it: real line breaks inside a single-quoted nginx string.
  local nl=$'\n' sse="" w
  for w in The " quick" " brown" " fox" " jumps" " over" " the" " lazy" " dog" "."; do
    sse+="data: {\"id\":\"chatcmpl-mock\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"$w\"},\"finish_reason\":null}]}$nl$nl"
  done
  sse+="data: {\"id\":\"chatcmpl-mock\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":10,\"total_tokens\":22}}$nl${nl}data: [DONE]$nl$nl"
  cat >"$1/mock.conf" <<NGINX
worker_processes 1;
pid $1/mock.pid;
error_log $1/mock-error.log warn;
events { worker_connections 8192; }
http {
  access_log off;
  keepalive_requests 100000000;
  server {
    listen 127.0.0.1:$2;
    location = /v1/openai/chat/completions {
      if (\$http_accept ~* "event-stream") { rewrite ^ /sse last; }
      default_type application/json;
      return 200 '$completion';
    }
    location = /sse { internal; default_type text/event-stream; return 200 '$sse'; }
    location /otlp/ { default_type application/x-protobuf; return 200 ''; }
  }
}
NGINX
}

# start_one_gateway WORK PORT_BASE REDIS(0|1) [NAME=value...]: the set-up of the profiling scripts (bench/threads.sh,
# bench/allocs.sh). The mock upstream and, with REDIS=1, a redis-server on CPU 0 (ports PORT_BASE+1 and +5); the gateway,
# built, with the container's JIT settings and the NAME=value pairs, on CPU 1 at PORT_BASE+3, answering. Sets gw (its
# pid), gw_port and gw_url; whatever it starts is stopped when the script exits. A command in the array run_under (empty
# unless a script sets it; bench/instructions.sh sets valgrind's) runs the gateway, and the floor below, under it.
run_under=()
start_one_gateway() {
  local work=$1 base=$2 redis=$3; shift 3
  local mock_port=$((base + 1)) redis_port=$((base + 5))
  gw_port=$((base + 3))
  dotnet build src/Gateway -c Release -v q -nologo >/dev/null
  _start_one_mock "$work" $mock_port
  write_gateway_config "$work/gateway.json" $mock_port budget
  local args=(--urls "http://127.0.0.1:$gw_port" --Metering:JournalDirectory="$work/journal")
  if [ "$redis" = 1 ]; then
    taskset -c 0 redis-server --port $redis_port --bind 127.0.0.1 --save "" --appendonly no >"$work/redis.log" 2>&1 &
    _one_pids+=($!)
    args+=(--Redis:Configuration="127.0.0.1:$redis_port")
  fi
  BENCH_DEEPINFRA_KEY=sim-key GATEWAY_CONFIG="$work/gateway.json" taskset -c 1 env $container_jit "$@" \
    "${run_under[@]}" dotnet src/Gateway/bin/Release/net10.0/Gateway.dll "${args[@]}" >"$work/gateway.log" 2>&1 &
  gw=$!; _one_pids+=($gw)
  wait_for "http://127.0.0.1:$gw_port/healthz"
  gw_url="http://127.0.0.1:$gw_port/v1/chat/completions"
}
# start_one_floor WORK PORT_BASE [NAME=value...]: as start_one_gateway, with the floor arm (bench/Floor) in the gateway's place, pinned the
# same way, in front of the same mock upstream at PORT_BASE+1; the floor listens at PORT_BASE+7. Sets gw (its pid) and gw_url.
start_one_floor() {
  local work=$1 base=$2; shift 2
  local mock_port=$((base + 1)) floor_port=$((base + 7))
  dotnet build bench/Floor -c Release -v q -nologo >/dev/null
  _start_one_mock "$work" $mock_port
  taskset -c 1 env $container_jit "$@" "${run_under[@]}" dotnet bench/Floor/bin/Release/net10.0/Floor.dll --urls "http://127.0.0.1:$floor_port" \
    --upstream "http://127.0.0.1:$mock_port/" --path /v1/openai/chat/completions >"$work/floor.log" 2>&1 &
  gw=$!; _one_pids+=($gw)
  wait_for "http://127.0.0.1:$floor_port/healthz"
  gw_url="http://127.0.0.1:$floor_port/v1/chat/completions"
}

# The mock upstream of start_one_gateway and start_one_floor, stopped with whatever they start when the script exits.
_start_one_mock() {
  _one_pids=(); _one_work=$1
  trap _stop_one_gateway EXIT
  write_mock_upstream "$1" "$2"
  taskset -c 0 nginx -c "$1/mock.conf" -p "$1" -e "$1/mock-error.log"
}

_stop_one_gateway() {
  for p in "${_one_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$_one_work/mock.pid" ] && kill "$(cat "$_one_work/mock.pid")" 2>/dev/null || true
  wait 2>/dev/null || true
}
