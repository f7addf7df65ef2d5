#!/usr/bin/env bash
# What the gateway's scripts cost inside redis-server: per request for the limits (admission + settlement of the bench
# gateway's plan), per record for usage (100 to a batch), from Redis's own accounting, without the gateway, HTTP or wrk:
# steadier than a whole-gateway run, though on a busy VM it still drifts up to a fifth over minutes. Compare a change to
# the scripts by its instructions first (bench/script-instructions.sh, the same load counted, to ~0.5%), then here
# in alternated runs (before, after, before, after), then with bench/throughput.sh. It also says how much of the script
# time is the Lua around the commands (most of it).
#
#   bench/scripts.sh [requests] [inFlight]      (defaults 20000 and 5: about what one batch holds at 16 connections)
set -euo pipefail
cd "$(dirname "$0")/.."
requests="${1:-20000}"; in_flight="${2:-5}"
command -v redis-server >/dev/null || { echo "missing redis-server: apt-get install -y redis-server" >&2; exit 1; }
work="$(pwd)/bench/results/scripts"; rm -rf "$work"; mkdir -p "$work"
port=18297
redis-server --port $port --bind 127.0.0.1 --save "" --appendonly no >"$work/redis.log" 2>&1 &
redis_pid=$!
trap 'kill $redis_pid 2>/dev/null || true; wait 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do redis-cli -p $port PING >/dev/null 2>&1 && break; sleep 0.1; done
dotnet build bench/Gateway.Bench -c Release -v q -nologo >/dev/null
dotnet bench/Gateway.Bench/bin/Release/net10.0/Gateway.Bench.dll scripts "127.0.0.1:$port" "$requests" "$in_flight"
