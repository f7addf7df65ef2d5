#!/usr/bin/env bash
# The response cache against the provider itself, in one run: what a warm-cache hit costs compared with a direct call to
# the provider simulator, and compared with the same request through the gateway with the cache off.
#
#   bench/cache.sh [--seconds 8] [--rounds 3] [--provider-ms 0] [--out bench/results/cache.md]
#
# --provider-ms N makes the simulator take N ms before answering (a knob in the prompt, the same in every arm), as a
# real model does; 0, the default, is the hardest comparison for the cache.
# Arms: direct (wrk straight to the simulator's DeepInfra endpoint); gateway with the cache off and with a warm cache,
# each in the embedded default (in-memory cache, journal) and in Redis mode (the cache, limits, budget and metering in
# Redis). Per arm: one connection (latency: what a single client waits) and 16 connections (throughput, CPU per request).
# The gateway is pinned to CPU 1; wrk, the simulator and Redis share CPU 0. Each arm's cache header is checked first,
# so a "hit" arm measures hits. Bounded: about 5 minutes with the defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
root=$(pwd)
seconds=8; rounds=3; provider_ms=0; out="$root/bench/results/cache.md"
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) shift; seconds="$1" ;;
    --rounds) shift; rounds="$1" ;;
    --provider-ms) shift; provider_ms="$1" ;;
    --out) shift; out="$1" ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
for tool in redis-server redis-cli wrk taskset curl; do
  command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install -y redis-server wrk util-linux curl" >&2; exit 1; }
done
work="$root/bench/results/cache"; rm -rf "$work"; mkdir -p "$work"
cpus=$(nproc); core_load=0; core_sut=$(( cpus > 1 ? 1 : 0 ))
sim_port=18101; gw_port=18102; redis_port=18103
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

dotnet build src/Gateway -c Release -v q -nologo >/dev/null
dotnet build tests/ProviderSimulator -c Release -v q -nologo >/dev/null

taskset -c $core_load dotnet tests/ProviderSimulator/bin/Release/net10.0/ProviderSimulator.dll --urls "http://127.0.0.1:$sim_port" \
  --Sim:RecordRequests=false --Logging:LogLevel:Default=Warning >"$work/simulator.log" 2>&1 &
sim_pid=$!; pids+=($sim_pid)
taskset -c $core_load redis-server --port $redis_port --bind 127.0.0.1 --save "" --appendonly no >"$work/redis.log" 2>&1 &
redis_pid=$!; pids+=($redis_pid)
write_gateway_config "$work/off.json" $sim_port budget
write_gateway_config "$work/on.json" $sim_port budget cache
wait_for "http://127.0.0.1:$sim_port/_sim/health"

# temperature 0: repeatable, so cacheable (README, "Which requests bypass the cache").
knob=""; [ "$provider_ms" != 0 ] && knob=" [sim latency_ms=$provider_ms]"
messages='"temperature":0,"messages":[{"role":"user","content":"Say something short about foxes.'"$knob"'"}]'
write_wrk_script "$work/gateway.lua" "{\"model\":\"bench-llama\",$messages}"
write_wrk_script "$work/direct.lua" "{\"model\":\"meta-llama/Meta-Llama-3.1-8B-Instruct\",$messages}" "" sim-deepinfra-key

run_wrk() { # url lua connections -> "rps p50_us p99_us requests failed"
  local text; text=$(taskset -c $core_load wrk -t1 -c"$3" -d"${seconds}s" --latency -s "$2" "$1")
  echo "$(awk '/Requests\/sec/ {print $2}' <<<"$text") $(to_us "$(awk '$1=="50%" {print $2}' <<<"$text")") \
$(to_us "$(awk '$1=="99%" {print $2}' <<<"$text")") $(awk '/requests in/ {print $1}' <<<"$text") \
$(awk '/Non-2xx/ {n+=$NF} /Socket errors/ {n+=1} END {print n+0}' <<<"$text")"
}

arms=("direct|direct|-" "gateway, cache off|off|memory" "gateway, cache hit|on|memory" "gateway+redis, cache off|off|redis" "gateway+redis, cache hit|on|redis")
results=()
for round in $(seq 1 "$rounds"); do
for arm in "${arms[@]}"; do
  IFS='|' read -r name config store <<<"$arm"
  echo "== $name (round $round)"
  if [ "$config" = direct ]; then
    url="http://127.0.0.1:$sim_port/v1/openai/chat/completions"; lua="$work/direct.lua"; sut=($sim_pid)
  else
    args=(--urls "http://127.0.0.1:$gw_port" --Metering:JournalDirectory="$work/journal-$round-$config-$store" --Logging:LogLevel:Default=Warning)
    [ "$store" = redis ] && { args+=(--Redis:Configuration="127.0.0.1:$redis_port"); redis-cli -p $redis_port FLUSHALL >/dev/null; }
    BENCH_DEEPINFRA_KEY=sim-deepinfra-key GATEWAY_CONFIG="$work/$config.json" taskset -c $core_sut env $container_jit \
      dotnet src/Gateway/bin/Release/net10.0/Gateway.dll "${args[@]}" >"$work/gateway-$config-$store.log" 2>&1 &
    gw=$!; pids+=($gw); sut=($gw); [ "$store" = redis ] && sut+=($redis_pid)
    wait_for "http://127.0.0.1:$gw_port/healthz"
    url="http://127.0.0.1:$gw_port/v1/chat/completions"; lua="$work/gateway.lua"
  fi
  taskset -c $core_load wrk -t1 -c16 -d2s -s "$lua" "$url" >/dev/null
  if [ "$config" != direct ]; then
    want=$([ "$config" = on ] && echo hit || echo bypass)
    got=$(curl -s -o /dev/null -D - "$url" -H "Authorization: Bearer sk-bench-key" -H "Content-Type: application/json" \
      -d "{\"model\":\"bench-llama\",$messages}" | tr -d '\r' | awk -F': ' 'tolower($1)=="x-gateway-cache" {print $2}')
    [ "$got" = "$want" ] || { echo "arm $name answers x-gateway-cache: '$got', not '$want'" >&2; exit 1; }
  fi
  read -r _ p50 p99 _ bad1 < <(run_wrk "$url" "$lua" 1)
  before=$(ticks "${sut[@]}")
  read -r rps _ _ req bad16 < <(run_wrk "$url" "$lua" 16)
  after=$(ticks "${sut[@]}")
  cpu=$(awk -v d=$(( after - before )) -v hz="$hz" -v n="$req" 'BEGIN { printf "%.0f", d * 1000000 / hz / n }')
  results+=("$name|$p50|$p99|$rps|$cpu|$(( bad1 + bad16 ))")
  echo "   1 connection: p50 ${p50}us p99 ${p99}us; 16 connections: $rps req/s, ${cpu} us CPU/request; failed $(( bad1 + bad16 ))"
  [ "$config" != direct ] && { kill "$gw"; wait "$gw" 2>/dev/null || true; }
  sleep 0.5
done
done

figure() { for r in "${results[@]}"; do IFS='|' read -r n _ <<<"$r"; [ "$n" = "$1" ] && cut -d'|' -f"$2" <<<"$r"; done | median; }
{
  echo "# The response cache: a warm hit against the provider (median of $rounds rounds, ${seconds}s per measurement)"
  echo
  echo "- Command: \`bench/cache.sh --seconds $seconds --rounds $rounds --provider-ms $provider_ms\`"
  echo "- Date (UTC): $(date -u '+%Y-%m-%d %H:%M'); machine: $(nproc) CPUs ($(awk -F: '/model name/ {print $2; exit}' /proc/cpuinfo | xargs)); $(redis-server --version | cut -d' ' -f1-3)"
  if [ "$provider_ms" = 0 ]; then
    echo "- Provider: the simulator's DeepInfra endpoint, answering at once (no model latency: a real provider takes 100s of ms, so this is the hardest comparison for the cache). wrk, the simulator and Redis on CPU 0; the gateway alone on CPU 1."
  else
    echo "- Provider: the simulator's DeepInfra endpoint, taking $provider_ms ms before it answers (a knob in the prompt, in every arm). wrk, the simulator and Redis on CPU 0; the gateway alone on CPU 1."
  fi
  echo "- Latency: one connection, one request at a time. Throughput and CPU: 16 connections. CPU per request is the system under test's user+system time (the simulator for direct; the gateway, plus redis-server in Redis mode) over the requests wrk completed."
  echo "- Every gateway arm has a key with limits and a budget (as production); 'cache hit' arms were checked to answer x-gateway-cache: hit before measuring."
  echo
  echo "| arm | p50 us | p99 us | p50 vs direct | added p50 us | req/s (16 conn) | vs direct | CPU us/request | failed |"
  echo "|---|---|---|---|---|---|---|---|---|"
  for arm in "${arms[@]}"; do
    IFS='|' read -r n _ <<<"$arm"
    awk -v n="$n" -v p50="$(figure "$n" 2)" -v p99="$(figure "$n" 3)" -v rps="$(figure "$n" 4)" -v cpu="$(figure "$n" 5)" -v bad="$(figure "$n" 6)" \
        -v dp50="$(figure direct 2)" -v drps="$(figure direct 4)" \
      'BEGIN { printf "| %s | %d | %d | %.2f | %+d | %.0f | %.2f | %d | %d |\n", n, p50, p99, p50/dp50, p50-dp50, rps, rps/drps, cpu, bad }'
  done
} >"$out"
cat "$out"
