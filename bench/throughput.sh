#!/usr/bin/env bash
# Throughput and CPU per request, side by side in one run: wrk at a fixed number of connections against
# nginx proxy_pass and against gateway arms, all in front of the same zero-delay mock upstream (an nginx
# answering DeepInfra's path with a fixed completion, or a fixed 10-chunk stream when asked for SSE).
#
#   bench/throughput.sh [--seconds 10] [--connections 16] [--rounds 1] [--out bench/results/throughput.md]
#                       (also writes the figures as tab-separated values next to it: throughput.tsv)
#                       [--warmup 16] [--arm "name|mode|ENV=value ..."]...
#
# mode is nginx; floor (bench/Floor: Kestrel and YARP's IHttpForwarder relaying the request untouched, the least a
# .NET gateway can cost here); gateway (embedded default, journal on disk); redis (limits, budget and metering in
# Redis); production (redis, plus traces and metrics exported over OTLP to a sink, as a fleet runs).
# Without --arm: nginx, floor, gateway, gateway+redis, production, each gateway with its defaults (metrics on, access
# log on) and the JIT settings the container ships with (Dockerfile): an arm's ENV=value pairs come after them and win.
# The system under test is pinned to CPU 1; wrk, the mock upstream and Redis to CPU 0. Each arm runs alone.
# CPU per request is user+system time of the system under test (and of redis-server in the redis mode)
# over the measured interval, divided by the requests wrk completed; for gateway arms also the bytes the runtime
# allocated per request (its own counter on /metrics). With --rounds N the arms run N times,
# interleaved (A B C A B C ...), and the report gives the median of each figure: run-to-run noise on a
# shared VM is larger than the effects worth measuring. Each arm is warmed up first, half with JSON and half with streams,
# for --warmup seconds: long enough for the image's tiered JIT to reach its final code (bench/warmup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
root=$(pwd)
seconds=10; warmup=$jit_warmup; connections=16; rounds=1; out="$root/bench/results/throughput.md"; arms=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) shift; seconds="$1" ;;
    --connections) shift; connections="$1" ;;
    --rounds) shift; rounds="$1" ;;
    --warmup) shift; warmup="$1" ;;
    --out) shift; out="$1" ;;
    --arm) shift; arms+=("$1") ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
[ ${#arms[@]} -gt 0 ] || arms=("nginx|nginx|" "floor|floor|" "gateway|gateway|" "gateway+redis|redis|" "production|production|")
need nginx redis-server wrk taskset curl
work="$root/bench/results/throughput"; rm -rf "$work"; mkdir -p "$work"
cpus=$(nproc); core_load=0; core_sut=$(( cpus > 1 ? 1 : 0 ))
mock_port=18091; proxy_port=18092; gw_port=18093; redis_port=18095
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for f in "$work"/*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

dotnet build src/Gateway -c Release -v q -nologo >/dev/null
dotnet build bench/Floor -c Release -v q -nologo >/dev/null

write_mock_upstream "$work" $mock_port
taskset -c $core_load nginx -c "$work/mock.conf" -p "$work" -e "$work/mock-error.log"

cat >"$work/proxy.conf" <<NGINX
worker_processes 1;
pid $work/proxy.pid;
error_log $work/proxy-error.log warn;
events { worker_connections 8192; }
http {
  access_log off;
  keepalive_requests 1000000;
  upstream mock { server 127.0.0.1:$mock_port; keepalive 512; }
  server {
    listen 127.0.0.1:$proxy_port;
    keepalive_requests 1000000;
    location / { proxy_pass http://mock; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_buffering off; }
  }
}
NGINX

taskset -c $core_load redis-server --port $redis_port --bind 127.0.0.1 --save "" --appendonly no >"$work/redis.log" 2>&1 &
redis_pid=$!; pids+=($redis_pid)

write_gateway_config "$work/gateway.json" $mock_port budget

body='{"model":"bench-llama","messages":[{"role":"user","content":"Say something short about foxes."}]}'
stream_body='{"model":"bench-llama","stream":true,"messages":[{"role":"user","content":"Say something short about foxes."}]}'
write_wrk_script "$work/json.lua" "$body" "application/json"
write_wrk_script "$work/sse.lua" "$stream_body" "text/event-stream"


run_wrk() { # url lua -> "rps p50_us p99_us requests failed"
  local text; text=$(taskset -c $core_load wrk -t1 -c"$connections" -d"${seconds}s" --latency -s "$2" "$1")
  local rps req p50 p99 bad
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$text")
  req=$(awk '/requests in/ {print $1}' <<<"$text")
  p50=$(awk '$1=="50%" {print $2}' <<<"$text"); p99=$(awk '$1=="99%" {print $2}' <<<"$text")
  bad=$(awk '/Non-2xx/ {n+=$NF} /Socket errors/ {n+=1} END {print n+0}' <<<"$text")
  echo "$rps $(to_us "$p50") $(to_us "$p99") $req $bad"
}
# Redis's own counters since the last RESETSTAT, per request: scripts called (round trips: admission, settlement and a
# share of each usage batch), commands run (inside the scripts too), bytes received and sent.
redis_per_request() { # requests -> "evalsha/commands/bytes in/bytes out"
  { redis-cli -p $redis_port INFO commandstats; redis-cli -p $redis_port INFO stats; } | tr -d '\r' | awk -F'[:,=]' -v n="$1" '
    /^cmdstat_evalsha:/ { e = $3 } /^total_commands_processed:/ { c = $2 }
    /^total_net_input_bytes:/ { i = $2 } /^total_net_output_bytes:/ { o = $2 }
    END { printf "%.2f/%.0f/%.0f/%.0f", e / n, c / n, i / n, o / n }'
}

# What the gateway allocated so far (the runtime's own counter on its /metrics; empty where that is not exported).
allocated() { curl -s --max-time 5 "http://127.0.0.1:$gw_port/metrics" | awk '/^dotnet_gc_heap_total_allocated_bytes_total/ {print $2}'; }

results=()
for round in $(seq 1 "$rounds"); do
for arm in "${arms[@]}"; do
  IFS='|' read -r name mode env <<<"$arm"
  echo "== arm $name ($mode${env:+, $env})"
  sut_pids=()
  if [ "$mode" = nginx ]; then
    taskset -c $core_sut nginx -c "$work/proxy.conf" -p "$work" -e "$work/proxy-error.log"
    sleep 0.3
    sut_pids=($(pgrep -P "$(cat "$work/proxy.pid")") "$(cat "$work/proxy.pid")")
    url="http://127.0.0.1:$proxy_port/v1/openai/chat/completions"
  elif [ "$mode" = floor ]; then
    taskset -c $core_sut env $container_jit $env dotnet bench/Floor/bin/Release/net10.0/Floor.dll --urls "http://127.0.0.1:$gw_port" \
      --upstream "http://127.0.0.1:$mock_port/" --path /v1/openai/chat/completions >"$work/floor-$name.log" 2>&1 &
    gw=$!; pids+=($gw); sut_pids=($gw)
    wait_for "http://127.0.0.1:$gw_port/healthz"
    url="http://127.0.0.1:$gw_port/v1/chat/completions"
  else
    args=(--urls "http://127.0.0.1:$gw_port" --Metering:JournalDirectory="$work/journal-$name")
    otlp=()
    if [ "$mode" = redis ] || [ "$mode" = production ]; then
      args+=(--Redis:Configuration="127.0.0.1:$redis_port"); redis-cli -p $redis_port FLUSHALL >/dev/null
    fi
    [ "$mode" = production ] && otlp=(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$mock_port/otlp" OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf)
    BENCH_DEEPINFRA_KEY=sim-key GATEWAY_CONFIG="$work/gateway.json" taskset -c $core_sut env $container_jit "${otlp[@]}" $env \
      dotnet src/Gateway/bin/Release/net10.0/Gateway.dll "${args[@]}" >"$work/gateway-$name.log" 2>&1 &
    gw=$!; pids+=($gw); sut_pids=($gw)
    wait_for "http://127.0.0.1:$gw_port/healthz"
    url="http://127.0.0.1:$gw_port/v1/chat/completions"
  fi
  { [ "$mode" = redis ] || [ "$mode" = production ]; } && sut_pids+=($redis_pid)
  # Warm-up (JIT and its tiering, pools, connections), JSON and streams, then the measured runs.
  taskset -c $core_load wrk -t1 -c"$connections" -d"$(( (warmup + 1) / 2 ))s" -s "$work/json.lua" "$url" >/dev/null
  taskset -c $core_load wrk -t1 -c"$connections" -d"$(( warmup / 2 > 0 ? warmup / 2 : 1 ))s" -s "$work/sse.lua" "$url" >/dev/null
  for kind in json sse; do
    uses_redis=0; { [ "$mode" = redis ] || [ "$mode" = production ]; } && uses_redis=1 && redis-cli -p $redis_port CONFIG RESETSTAT >/dev/null
    alloc_before=""; { [ "$mode" = nginx ] || [ "$mode" = floor ]; } || alloc_before=$(allocated)
    before=$(ticks "${sut_pids[@]}"); redis_before=$(ticks $redis_pid)
    read -r rps p50 p99 req bad < <(run_wrk "$url" "$work/$kind.lua")
    after=$(ticks "${sut_pids[@]}"); redis_after=$(ticks $redis_pid)
    alloc="-"
    if [ -n "$alloc_before" ]; then
      alloc_after=$(allocated)
      [ -n "$alloc_after" ] && alloc=$(awk -v a="$alloc_before" -v b="$alloc_after" -v n="$req" 'BEGIN { printf "%.0f", (b - a) / n }')
    fi
    cpu=$(awk -v d=$(( after - before )) -v hz="$hz" -v n="$req" 'BEGIN { printf "%.0f", d * 1000000 / hz / n }')
    redis_use="-"; redis_cpu="-"
    if [ $uses_redis = 1 ]; then
      redis_use=$(redis_per_request "$req")
      redis_cpu=$(awk -v d=$(( redis_after - redis_before )) -v hz="$hz" -v n="$req" 'BEGIN { printf "%.0f", d * 1000000 / hz / n }')
    fi
    results+=("$name|$kind|$rps|$p50|$p99|$cpu|$bad|$redis_use|$redis_cpu|$alloc")
    echo "   round $round $kind: $rps req/s, p50 ${p50}us, p99 ${p99}us, ${cpu} us CPU/request (redis-server ${redis_cpu}), $bad failed, redis per request: $redis_use, allocated ${alloc} bytes/request"
  done
  if [ "$mode" = nginx ]; then kill "$(cat "$work/proxy.pid")"; rm -f "$work/proxy.pid"; else kill "$gw"; wait "$gw" 2>/dev/null || true; fi
  sleep 0.5
done
done

last() { # arm kind field -> the value of the last round (for text fields)
  local v="-"; for r in "${results[@]}"; do IFS='|' read -r n k _ <<<"$r"; [ "$n" = "$1" ] && [ "$k" = "$2" ] && v=$(cut -d'|' -f"$3" <<<"$r"); done; echo "$v"
}
figure() { # arm kind field(3=rps 4=p50 5=p99 6=cpu 7=failed) -> median over rounds
  for r in "${results[@]}"; do IFS='|' read -r n k _ <<<"$r"; [ "$n" = "$1" ] && [ "$k" = "$2" ] && cut -d'|' -f"$3" <<<"$r"; done | median
}
{
  echo "# Throughput and CPU per request ($connections connections, ${seconds}s per measurement, median of $rounds rounds)"
  echo
  echo "- Command: \`bench/throughput.sh --seconds $seconds --warmup $warmup --connections $connections --rounds $rounds$(for a in "${arms[@]}"; do printf ' --arm "%s"' "$a"; done)\`"
  echo "- Date (UTC): $(date -u '+%Y-%m-%d %H:%M'); machine: $(nproc) CPUs ($(awk -F: '/model name/ {print $2; exit}' /proc/cpuinfo | xargs)); $(nginx -v 2>&1); $(redis-server --version | cut -d' ' -f1-3)"
  echo "- Upstream: a zero-delay mock (nginx returning a fixed completion, or a 10-chunk stream) on CPU 0 with wrk and Redis; the system under test alone on CPU 1."
  echo "- CPU per request: user+system time of the system under test (nginx workers; the floor relay; the gateway; the gateway and redis-server in the redis and production arms, with redis-server's own share in its column). CPU vs floor: against the floor arm of the same run (the goals of bench/REPORT.md are ratios to it)."
  echo "- Redis per request (last round): EVALSHA calls, commands run (inside scripts too), bytes received and sent by redis-server (INFO commandstats and stats)."
  echo "- Gateway and floor arms run with the container's JIT settings ($container_jit) unless an arm says otherwise."
  echo "- Allocated per request (last round, gateway arms): bytes the gateway's runtime allocated over the run (dotnet_gc_heap_total_allocated_bytes_total on its /metrics), per answer; \"-\" where not exported."
  echo
  echo "| arm | answer | req/s | vs nginx | p50 us | p99 us | CPU us/request | CPU vs floor | CPU vs nginx | of which redis-server | failed | Redis per request: scripts / commands / bytes in / bytes out | allocated bytes/request |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
  for arm in "${arms[@]}"; do
    IFS='|' read -r n _ <<<"$arm"
    for k in json sse; do
      awk -v n="$n" -v k="$k" -v rps="$(figure "$n" "$k" 3)" -v p50="$(figure "$n" "$k" 4)" -v p99="$(figure "$n" "$k" 5)" \
          -v cpu="$(figure "$n" "$k" 6)" -v bad="$(figure "$n" "$k" 7)" -v brps="$(figure nginx "$k" 3)" -v bcpu="$(figure nginx "$k" 6)" \
          -v fcpu="$(figure floor "$k" 6)" -v rcpu="$(last "$n" "$k" 9)" \
          -v redis="$(last "$n" "$k" 8 | sed 's|/| / |g')" -v alloc="$(last "$n" "$k" 10)" \
        'BEGIN { printf "| %s | %s | %.0f | %s | %d | %d | %d | %s | %s | %s | %d | %s | %s |\n", n, (k=="json" ? "JSON" : "stream"), rps, (brps>0 ? sprintf("%.2f", rps/brps) : "-"), p50, p99, cpu, (fcpu>0 ? sprintf("%.2f", cpu/fcpu) : "-"), (bcpu>0 ? sprintf("%.1f", cpu/bcpu) : "-"), rcpu, bad, redis, alloc }'
    done
  done
} >"$out"
# The same figures for bench/run.sh's goals table: arm, answer, CPU us/request (median), redis-server's share and
# script calls per request (last round; "-" without Redis).
for arm in "${arms[@]}"; do
  IFS='|' read -r n _ <<<"$arm"
  for k in json sse; do
    printf '%s\t%s\t%s\t%s\t%s\n' "$n" "$k" "$(figure "$n" "$k" 6)" "$(last "$n" "$k" 9)" "$(last "$n" "$k" 8 | cut -d/ -f1)"
  done
done >"${out%.md}.tsv"
cat "$out"
