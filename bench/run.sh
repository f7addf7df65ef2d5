#!/usr/bin/env bash
# The benchmark, in one command: bench/run.sh [--quick] [--skip-micro] [--skip-throughput] [--gateway-env "NAME=value ..."]
# Arms, side by side, all on 127.0.0.1: the client straight to the provider simulator (baseline),
# nginx proxy_pass to the simulator, the floor relay (bench/Floor: Kestrel and YARP's forwarder, nothing else) and the
# gateway on its full path without and with Redis.
# The system under test is pinned to CPU 1; load generator, simulator and Redis share CPU 0.
# Then bench/throughput.sh: wrk at 16 connections and at 1 against nginx, the floor relay and the gateway arms, with
# CPU per request, and bench/goals.sh: issue 23's goals, each against the floor arm of this run.
# Gateways and the floor relay run with the container's JIT settings (Dockerfile). dotnet-gcdump (a dotnet tool) is
# used for the held streams' live heap.
# Writes bench/results/report.md and copies it to bench/REPORT.md. Bounded: ~20 min full, ~10 min quick.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
root=$(pwd)
out="$root/bench/results"
mkdir -p "$out"
quick=""; micro=1; throughput=1; gateway_env=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick="--quick" ;;
    --skip-micro) micro=0 ;;
    --skip-throughput) throughput=0 ;;
    --gateway-env) shift; gateway_env="$1" ;;  # runtime settings for the gateways only, e.g. GC knobs
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

for tool in nginx redis-server taskset curl; do
  command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install -y nginx redis-server util-linux curl" >&2; exit 1; }
done
# The held-streams memory reads the live heap after a full collection through dotnet-gcdump; without it that column is n/a.
command -v dotnet-gcdump >/dev/null || [ -x "$HOME/.dotnet/tools/dotnet-gcdump" ] \
  || echo "note: no dotnet-gcdump, so the held streams' live heap will read n/a (dotnet tool install -g dotnet-gcdump)" >&2
cpus=$(nproc)
core_load=0; core_sut=$(( cpus > 1 ? 1 : 0 ))

sim_port=18081; nginx_port=18082; gw_port=18083; gwr_port=18084; redis_port=18085; floor_port=18086
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$out/nginx.pid" ] && kill "$(cat "$out/nginx.pid")" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT

echo "== building (Release)"
dotnet build src/Gateway -c Release -v q -nologo >/dev/null
dotnet build tests/ProviderSimulator -c Release -v q -nologo >/dev/null
dotnet build bench/LoadGen -c Release -v q -nologo >/dev/null
dotnet build bench/Floor -c Release -v q -nologo >/dev/null

echo "== starting the simulator, nginx, the floor relay, redis and two gateways"
taskset -c $core_load dotnet tests/ProviderSimulator/bin/Release/net10.0/ProviderSimulator.dll \
  --urls "http://127.0.0.1:$sim_port" --Sim:RecordRequests=false --Logging:LogLevel:Default=Warning >"$out/simulator.log" 2>&1 &
pids+=($!)

cat >"$out/nginx.conf" <<NGINX
worker_processes 1;
pid $out/nginx.pid;
error_log $out/nginx-error.log warn;
events { worker_connections 8192; }
http {
  access_log off;
  upstream simulator { server 127.0.0.1:$sim_port; keepalive 512; }
  server {
    listen 127.0.0.1:$nginx_port;
    location / {
      proxy_pass http://simulator;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }
  }
}
NGINX
taskset -c $core_sut nginx -c "$out/nginx.conf" -p "$out" -e "$out/nginx-error.log"
sleep 0.3
nginx_pids=$(pgrep -P "$(cat "$out/nginx.pid")" | paste -sd,)

taskset -c $core_load redis-server --port $redis_port --bind 127.0.0.1 --save "" --appendonly no >"$out/redis.log" 2>&1 &
redis_pid=$!; pids+=($redis_pid)

taskset -c $core_sut env $container_jit dotnet bench/Floor/bin/Release/net10.0/Floor.dll --urls "http://127.0.0.1:$floor_port" \
  --upstream "http://127.0.0.1:$sim_port/" --path /v1/openai/chat/completions >"$out/floor.log" 2>&1 &
floor_pid=$!; pids+=($floor_pid)

write_gateway_config "$out/gateway.bench.json" $sim_port
export BENCH_DEEPINFRA_KEY=sim-deepinfra-key GATEWAY_CONFIG="$out/gateway.bench.json"
rm -rf "$out/journal" "$out/journal-redis"
taskset -c $core_sut env $container_jit $gateway_env dotnet src/Gateway/bin/Release/net10.0/Gateway.dll --urls "http://127.0.0.1:$gw_port" \
  --Logging:LogLevel:Default=Warning --Metering:JournalDirectory="$out/journal" >"$out/gateway.log" 2>&1 &
gw_pid=$!; pids+=($gw_pid)
taskset -c $core_sut env $container_jit $gateway_env dotnet src/Gateway/bin/Release/net10.0/Gateway.dll --urls "http://127.0.0.1:$gwr_port" \
  --Logging:LogLevel:Default=Warning --Metering:JournalDirectory="$out/journal-redis" \
  --Redis:Configuration="127.0.0.1:$redis_port" >"$out/gateway-redis.log" 2>&1 &
gwr_pid=$!; pids+=($gwr_pid)

wait_for "http://127.0.0.1:$sim_port/_sim/health"
wait_for "http://127.0.0.1:$nginx_port/_sim/health"
wait_for "http://127.0.0.1:$floor_port/healthz"
wait_for "http://127.0.0.1:$gw_port/healthz"
wait_for "http://127.0.0.1:$gwr_port/healthz"

micro_md=""
if [ $micro = 1 ]; then
  echo "== allocation micro-benchmarks (BenchmarkDotNet, short runs)"
  # BenchmarkDotNet names each joined report by its time: a folder kept from earlier runs would add theirs to this one's.
  rm -rf "$out/micro"
  (cd bench/Gateway.Bench && dotnet run -c Release -- --filter '*' --join --artifacts "$out/micro" >"$out/micro.log" 2>&1)
  micro_md="$out/micro.md"
  cat "$out"/micro/results/*-report-github.md >"$micro_md"
fi

echo "== load (this takes a few minutes)"
taskset -c $core_load dotnet bench/LoadGen/bin/Release/net10.0/LoadGen.dll \
  --direct "http://127.0.0.1:$sim_port" --nginx "http://127.0.0.1:$nginx_port" --nginx-pids "$nginx_pids" --redis-pid "$redis_pid" \
  --floor "http://127.0.0.1:$floor_port" --floor-pid "$floor_pid" --goals "$out/latency-goals.md" \
  --gateway "http://127.0.0.1:$gw_port" --gateway-pid "$gw_pid" \
  --gateway-redis "http://127.0.0.1:$gwr_port" --gateway-redis-pid "$gwr_pid" \
  --out "$out/report.md" ${micro_md:+--micro "$micro_md"} --command "bench/run.sh $quick ${gateway_env:+--gateway-env \"$gateway_env\"}" $quick

if [ $throughput = 1 ]; then
  echo "== throughput and CPU per request at 16 connections and at 1 (bench/throughput.sh)"
  cleanup; pids=()
  if [ -n "$quick" ]; then tp=(--seconds 4 --rounds 1); else tp=(--seconds 8 --rounds 3); fi
  for c in 16 1; do
    bench/throughput.sh "${tp[@]}" --connections $c --out "$out/throughput-$c.md"
    { echo; echo "## Throughput and CPU per request at $c connection$([ $c = 1 ] || echo s) (bench/throughput.sh)"; echo
      tail -n +3 "$out/throughput-$c.md"; } >>"$out/report.md"
  done
  { echo; echo "## Issue 23's goals, every figure against the floor arm of this run (bench/goals.sh)"; echo
    bench/goals.sh "$out/throughput-16.tsv" "$out/throughput-1.tsv" "$out/latency-goals.md"
    echo; echo "Where the rest goes, and the profiles behind these figures: docs/performance.md."; } >>"$out/report.md"
else
  { echo; echo "## Issue 23's latency and memory goals, against the floor arm of this run (the CPU goals need bench/throughput.sh)"; echo
    echo "| goal | target | measured | met |"; echo "|---|---|---|---|"; cat "$out/latency-goals.md"; } >>"$out/report.md"
fi
echo "== the scripts alone inside redis-server (bench/scripts.sh)"
cleanup; pids=()
{ echo; echo "## The scripts alone, inside redis-server (bench/scripts.sh: Redis's own accounting, no gateway)"; echo
  echo "Admissions and settlements of the bench gateway's plan through the Redis engine, 5 in flight (about one batch at"
  echo "16 connections), then usage records 100 to a batch. Steadier than the gateway arms (a few percent between runs"
  echo "close together, up to a fifth over minutes on a busy VM)."
  echo; echo '```'; bench/scripts.sh 20000 5; echo '```'
  # Counted, not timed: the figure to compare script changes by (it does not move with the host's load).
  echo; echo "The same load counted in instructions (bench/script-instructions.sh: redis-server under valgrind's callgrind;"
  echo "two runs of the same code mostly agree within about 0.5%, within 2% at worst):"
  echo; echo '```'
  if command -v valgrind >/dev/null; then bench/script-instructions.sh 2000 5; else echo "(skipped: apt-get install -y valgrind)"; fi
  echo '```'; } >>"$out/report.md"
cp "$out/report.md" "$root/bench/REPORT.md"
echo "== done: bench/REPORT.md"
