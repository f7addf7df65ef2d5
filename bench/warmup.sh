#!/usr/bin/env bash
# How a replica joins: seconds from process start to /readyz, a burst of 16 concurrent first requests, and then CPU per
# request second by second under load (wrk, 16 connections) until it is steady. This is what a JIT setting trades:
# compiling everything before ready (the old image: tiered compilation off) against starting at once and tiering up
# under load (the image now: tiered compilation with dynamic PGO, call counting from the first call).
#
#   bench/warmup.sh [--redis] [--seconds 30] [--slice 2] [--env "NAME=value ..."] [--label name]
#
# --env adds to the image's JIT settings (bench/lib.sh container_jit) and wins over them, e.g.
#   --env "DOTNET_TieredCompilation=0 DOTNET_ReadyToRun=0"   (the old image's settings)
# The gateway is pinned to CPU 1; wrk, the mock upstream and Redis to CPU 0.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
redis=0; seconds=30; slice=2; env=""; label=""
while [ $# -gt 0 ]; do
  case "$1" in
    --redis) redis=1 ;;
    --seconds) shift; seconds="$1" ;;
    --slice) shift; slice="$1" ;;
    --env) shift; env="$1" ;;
    --label) shift; label="$1" ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
need nginx redis-server wrk taskset curl
work="$(pwd)/bench/results/warmup"; rm -rf "$work"; mkdir -p "$work"
started=$(date +%s%N)
# shellcheck disable=SC2086 # the NAME=value pairs of --env, one word each
start_one_gateway "$work" 18490 $redis $env
for _ in $(seq 1 600); do curl -fs "http://127.0.0.1:$gw_port/readyz" >/dev/null 2>&1 && break; sleep 0.05; done
ready_ms=$(( ($(date +%s%N) - started) / 1000000 ))
body='{"model":"bench-llama","messages":[{"role":"user","content":"Say something short about foxes."}]}'

# The burst: 16 first requests at once, as a load balancer sends them to a replica that just turned ready.
burst_started=$(date +%s%N)
for i in $(seq 1 16); do
  curl -s -o /dev/null -w '%{http_code} %{time_total}\n' -H 'Authorization: Bearer sk-bench-key' \
    -H 'Content-Type: application/json' -d "$body" "$gw_url" >"$work/burst-$i" &
done
wait_burst() { for i in $(seq 1 16); do while [ ! -s "$work/burst-$i" ]; do sleep 0.05; done; done; }
wait_burst
burst_ms=$(( ($(date +%s%N) - burst_started) / 1000000 ))
codes=$(cut -d' ' -f1 "$work"/burst-* | sort | uniq -c | awk '{printf "%s×%s ", $1, $2}')
slowest=$(cut -d' ' -f2 "$work"/burst-* | sort -n | tail -1)

echo "# warm-up: gateway$([ $redis = 1 ] && echo " + Redis")${label:+ ($label)}; JIT: $container_jit${env:+ $env}"
echo "ready after ${ready_ms} ms (process start to /readyz); 16 first requests at once: ${codes}in ${burst_ms} ms, the slowest ${slowest} s"
echo "| seconds under load | req/s | CPU µs/request |"
echo "|---|---|---|"
write_wrk_script "$work/json.lua" "$body"
elapsed=0
while [ $elapsed -lt "$seconds" ]; do
  before=$(ticks "$gw")
  text=$(taskset -c 0 wrk -t1 -c16 -d"${slice}s" -s "$work/json.lua" "$gw_url")
  after=$(ticks "$gw")
  requests=$(awk '/requests in/ {print $1}' <<<"$text")
  elapsed=$(( elapsed + slice ))
  awk -v t=$elapsed -v n="$requests" -v d=$(( after - before )) -v hz="$hz" -v s="$slice" \
    'BEGIN { printf "| %d | %.0f | %.0f |\n", t, n / s, d * 1000000 / hz / n }'
done
