#!/usr/bin/env bash
# The dashboard's data calls on a gateway holding 30 days x 50 keys x 10 models of rollups (and 3 days of hourly ones in
# Redis), and the page itself in Debian's Chromium: time to every chart drawn, and how long the main thread is blocked.
#
#   bench/dashboard.sh [--rounds 10] [--out bench/results/dashboard.md]
#
# Two arms: Redis mode (rollups in Redis hashes, as a fleet runs) and the embedded default (rollup files in the journal
# directory, read at start). Each key has a rate limit, a token limit and a budget, so /admin/limits peeks at 50 keys.
# Needs redis-server and chromium (apt-get install redis-server chromium). Bounded: about a minute.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
root=$(pwd)
rounds=10; out="$root/bench/results/dashboard.md"
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) shift; rounds="$1" ;;
    --out) shift; out="$1" ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
for tool in redis-server curl; do command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install -y redis-server curl" >&2; exit 1; }; done
[ -x /usr/bin/chromium ] || { echo "missing /usr/bin/chromium: apt-get install -y chromium" >&2; exit 1; }
work="$root/bench/results/dashboard"; rm -rf "$work"; mkdir -p "$work"
gw_port=18111; redis_port=18112
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

dotnet build src/Gateway -c Release -v q -nologo >/dev/null
dotnet build bench/DashboardProbe -c Release -v q -nologo >/dev/null
probe=(dotnet bench/DashboardProbe/bin/Release/net10.0/DashboardProbe.dll)

sha() { printf %s "$1" | sha256sum | cut -d' ' -f1; }
{
  echo '{ "Providers": {'
  for p in 0 1 2 3; do echo "  \"provider-$p\": { \"Kind\": \"deepinfra\", \"BaseUrl\": \"http://127.0.0.1:9\", \"ApiKeyEnv\": \"BENCH_KEY\" }$([ $p -lt 3 ] && echo ,)"; done
  echo '}, "Models": {'
  for m in $(seq 0 9); do
    printf '  "model-%02d": { "Deployments": [ { "Provider": "provider-%d", "UpstreamModel": "m/%d", "Price": { "InputPerMillion": 0.1, "OutputPerMillion": 0.2 } } ] }%s\n' "$m" $(( m % 4 )) "$m" "$([ "$m" -lt 9 ] && echo ,)"
  done
  echo '}, "Keys": {'
  echo "  \"admin\": { \"Sha256\": \"$(sha sk-bench-admin)\", \"Admin\": true },"
  for k in $(seq 0 49); do
    printf '  "key-%02d": { "Sha256": "%s", "Models": ["*"], "Limits": { "RequestsPerMinute": 600, "TokensPerMinute": 200000, "BudgetUsd": 50, "BudgetPeriod": "month" } }%s\n' \
      "$k" "$(sha "sk-bench-key-$k")" "$([ "$k" -lt 49 ] && echo ,)"
  done
  echo '} }'
} >"$work/gateway.json"

start_gateway() { # name extra-args...
  local name=$1; shift
  BENCH_KEY=x GATEWAY_CONFIG="$work/gateway.json" env $container_jit dotnet src/Gateway/bin/Release/net10.0/Gateway.dll \
    --urls "http://127.0.0.1:$gw_port" --Logging:LogLevel:Default=Warning "$@" >"$work/gateway-$name.log" 2>&1 &
  gw=$!; pids+=($gw)
  wait_for "http://127.0.0.1:$gw_port/healthz"
}

{
  echo "# The dashboard on 30 days x 50 keys x 10 models of rollups"
  echo
  echo "- Command: \`bench/dashboard.sh --rounds $rounds\`"
  echo "- Date (UTC): $(date -u '+%Y-%m-%d %H:%M'); machine: $(nproc) CPUs ($(awk -F: '/model name/ {print $2; exit}' /proc/cpuinfo | xargs)); $(redis-server --version | cut -d' ' -f1-3); $(/usr/bin/chromium --version 2>/dev/null | tail -1)"
  echo "- Data: per day 500 rollup cells (50 keys x 10 models over 4 providers), 9 counters each; in Redis also 72 hourly hashes of 500 cells."
  echo "- Calls from the same machine (HttpClient, keep-alive), $rounds timed after one warm-up each; the page in headless Chromium, $rounds fresh tabs."
  echo
} >"$out"

echo "== Redis mode"
redis-server --port $redis_port --bind 127.0.0.1 --save "" --appendonly no >"$work/redis.log" 2>&1 &
pids+=($!)
sleep 0.5
"${probe[@]}" fill-redis "127.0.0.1:$redis_port" "gw:" 30 50 10
start_gateway redis --Redis:Configuration="127.0.0.1:$redis_port" --Metering:JournalDirectory="$work/journal-redis"
"${probe[@]}" measure "http://127.0.0.1:$gw_port" sk-bench-admin "$rounds" "$out" "Redis mode (usage in Redis hashes, limits peeked in Redis)"
kill "$gw"; wait "$gw" 2>/dev/null || true

echo "== embedded default (journal)"
"${probe[@]}" fill-journal "$work/journal" 30 50 10
start_gateway journal --Metering:JournalDirectory="$work/journal"
"${probe[@]}" measure "http://127.0.0.1:$gw_port" sk-bench-admin "$rounds" "$out" "Embedded default (rollup files read at start, limits in memory; no hourly history before the start)"
kill "$gw"; wait "$gw" 2>/dev/null || true
echo "== done: $out"
