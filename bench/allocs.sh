#!/usr/bin/env bash
# Where a request's allocations come from: the gateway under wrk load while dotnet-trace samples the runtime's
# allocation ticks (one every ~100 KB, with its call stack), then bench/AllocProfile sums them by type and by the
# gateway frame nearest to each allocation. Also prints the bytes allocated per request (the runtime's own counter).
#
#   bench/allocs.sh [--redis] [--stream] [--connections 16] [--seconds 5] [--top 30]
#
# Needs dotnet-trace (dotnet tool install -g dotnet-trace), nginx, wrk; redis-server with --redis.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
redis=0; stream=0; connections=16; seconds=5; top=30
while [ $# -gt 0 ]; do
  case "$1" in
    --redis) redis=1 ;;
    --stream) stream=1 ;;
    --connections) shift; connections="$1" ;;
    --seconds) shift; seconds="$1" ;;
    --top) shift; top="$1" ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
trace_tool=$(command -v dotnet-trace || echo "$HOME/.dotnet/tools/dotnet-trace")
[ -x "$trace_tool" ] || { echo "missing dotnet-trace: dotnet tool install -g dotnet-trace" >&2; exit 1; }
need nginx wrk taskset curl
work="$(pwd)/bench/results/allocs"; rm -rf "$work"; mkdir -p "$work"
[ $redis = 0 ] || command -v redis-server >/dev/null || { echo "missing redis-server: apt-get install -y redis-server" >&2; exit 1; }
start_one_gateway "$work" 18390 $redis
dotnet build bench/AllocProfile -c Release -v q -nologo >/dev/null
stream_field=""; accept="application/json"
[ $stream = 1 ] && stream_field='"stream":true,' && accept="text/event-stream"
write_wrk_script "$work/load.lua" "{\"model\":\"bench-llama\",${stream_field}\"messages\":[{\"role\":\"user\",\"content\":\"Say something short about foxes.\"}]}" "$accept"
url=$gw_url
taskset -c 0 wrk -t1 -c"$connections" -d"${jit_warmup}s" -s "$work/load.lua" "$url" >/dev/null

allocated() { curl -s --max-time 5 "http://127.0.0.1:$gw_port/metrics" | awk '/^dotnet_gc_heap_total_allocated_bytes_total/ {print $2}'; }
# GC keyword (0x1) at verbose level (5): the allocation ticks; the trace ends a second after the load.
"$trace_tool" collect -p $gw --providers "Microsoft-Windows-DotNETRuntime:0x1:5" --duration "00:00:00:$(printf '%02d' $((seconds + 2)))" \
  -o "$work/allocs.nettrace" >"$work/trace.log" 2>&1 &
tracer=$!
sleep 1
before=$(allocated)
text=$(taskset -c 0 wrk -t1 -c"$connections" -d"${seconds}s" -s "$work/load.lua" "$url")
after=$(allocated)
wait $tracer
requests=$(awk '/requests in/ {print $1}' <<<"$text")
echo "# gateway$([ $redis = 1 ] && echo " + Redis"), $([ $stream = 1 ] && echo stream || echo JSON), $connections connection(s), ${seconds}s: $requests requests"
[ -n "$before" ] && [ -n "$after" ] && awk -v a="$before" -v b="$after" -v n="$requests" 'BEGIN { printf "# allocated per request: %.0f bytes\n", (b - a) / n }'
dotnet bench/AllocProfile/bin/Release/net10.0/AllocProfile.dll "$work/allocs.nettrace" "$top"
