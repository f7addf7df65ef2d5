#!/usr/bin/env bash
# Runtime keys at scale: a Redis-mode gateway's resident memory with 0 and with N runtime keys (loaded straight into
# Redis as the admin API stores them), and what authentication costs then: wrk on GET /v1/models (authentication and
# a small answer, nothing else) with a gateway.json key, a runtime key and a made-up key, plus Redis commands per
# request for the made-up key (none is the goal: a flood of invented keys must not reach Redis).
#
#   bench/keys.sh [--keys 100000] [--seconds 5] [--connections 16] [--out bench/results/keys.md]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
root=$(pwd)
keys=100000; seconds=5; connections=16; out="$root/bench/results/keys.md"
while [ $# -gt 0 ]; do
  case "$1" in
    --keys) shift; keys="$1" ;;
    --seconds) shift; seconds="$1" ;;
    --connections) shift; connections="$1" ;;
    --out) shift; out="$1" ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
for tool in redis-server redis-cli wrk curl python3; do
  command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install -y redis-server redis-tools wrk curl python3" >&2; exit 1; }
done
work="$root/bench/results/keys"; rm -rf "$work"; mkdir -p "$work"
dotnet build src/Gateway -c Release -o "$work/gateway" >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

redis_port=$(( 21000 + RANDOM % 1000 ))
redis-server --port "$redis_port" --save "" --appendonly no --dir "$work" >"$work/redis.log" 2>&1 & pids+=($!)
until redis-cli -p "$redis_port" ping >/dev/null 2>&1; do sleep 0.1; done
write_gateway_config "$work/gateway.json" 9
python3 - "$work/gateway.json" <<'PY'
import json, sys
p = sys.argv[1]; c = json.load(open(p))
c["Keys"]["admin"] = {"Sha256": __import__("hashlib").sha256(b"sk-bench-admin").hexdigest(), "Models": ["*"], "Admin": True}
json.dump(c, open(p, "w"))
PY

rss_of() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
start_gateway() {
  local port=$(( 22000 + RANDOM % 1000 ))
  (cd "$work" && exec env DOTNET_gcServer=0 GATEWAY_CONFIG="$work/gateway.json" "$work/gateway/Gateway" --urls "http://127.0.0.1:$port" \
    --Redis:Configuration="127.0.0.1:$redis_port" --Logging:LogLevel:Default=Warning --Metering:JournalDirectory="$work/usage" \
    >"$work/gateway-$1.log" 2>&1) & gateway_pid=$!; pids+=($gateway_pid)
  gateway_url="http://127.0.0.1:$port"
  wait_for "$gateway_url/readyz"
  # One runtime key made through the API, so the store's layout is the gateway's own.
  runtime_secret=$(curl -fs "$gateway_url/admin/keys" -H "Authorization: Bearer sk-bench-admin" -H "Content-Type: application/json" \
    -d "{\"name\":\"bench-runtime-$1\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')
  sleep 2
  for _ in 1 2 3 4 5; do curl -fs "$gateway_url/v1/models" -H "Authorization: Bearer $runtime_secret" >/dev/null; done
}

# Memory without runtime keys.
start_gateway empty
rss_empty=$(rss_of "$gateway_pid")
kill "$gateway_pid"; wait "$gateway_pid" 2>/dev/null || true

# N runtime keys, written as the store writes them (one hash of records by name, one of names by prefix).
python3 - "$keys" >"$work/load.redis" <<'PY'
import sys, hashlib, json, os
n = int(sys.argv[1])
for i in range(n):
    name = f"bulk-{i:06d}"; prefix = f"sk-gw-{i:010x}"
    record = {"id": f"r{i:020x}", "name": name, "prefix": prefix, "hash": hashlib.sha256(os.urandom(16)).hexdigest(),
              "models": ["*"], "limits": {"requests_per_minute": 1000}, "metadata": {"owner": "bench"},
              "created_at": "2026-12-06T00:00:00+00:00", "updated_at": "2026-12-06T00:00:00+00:00", "revision": 1}
    print(f"HSET gw:{{keys}}:records {name} '{json.dumps(record)}'")
    print(f"HSET gw:{{keys}}:prefixes {prefix} {name}")
print(f"INCRBY gw:{{keys}}:version {n}")
PY
redis-cli -p "$redis_port" <"$work/load.redis" >/dev/null
start_gateway full
rss_full=$(rss_of "$gateway_pid")
count=$(redis-cli -p "$redis_port" hlen 'gw:{keys}:records')

calls() { redis-cli -p "$redis_port" info commandstats | awk -F'calls=' -v only="$1" '$0 ~ "^cmdstat_" only {split($2, a, ","); s += a[1]} END {print s + 0}'; }
run_wrk() { # name key
  local calls_before calls_after reads_before reads_after rps requests
  # Warm: the first seconds of a fresh process compile the path.
  wrk -t 2 -c "$connections" -d 2s -H "Authorization: Bearer $2" "$gateway_url/v1/models" >/dev/null
  calls_before=$(calls ""); reads_before=$(( $(calls "hget:") + $(calls "hgetall:") ))
  wrk -t 2 -c "$connections" -d "${seconds}s" -H "Authorization: Bearer $2" "$gateway_url/v1/models" >"$work/wrk-$1.txt"
  calls_after=$(calls ""); reads_after=$(( $(calls "hget:") + $(calls "hgetall:") ))
  rps=$(awk '/Requests\/sec/ {print $2}' "$work/wrk-$1.txt")
  requests=$(awk '/requests in/ {print $1}' "$work/wrk-$1.txt")
  printf '| %s | %s | %s | %.4f | %d |\n' "$1" "$rps" "$(awk '/Latency/ {print $2}' "$work/wrk-$1.txt")" \
    "$(awk -v c=$(( calls_after - calls_before )) -v r="$requests" 'BEGIN { print (r > 0 ? c / r : 0) }')" $(( reads_after - reads_before ))
}

{
  echo "# Runtime keys at scale"
  echo
  echo "\`bench/keys.sh --keys $keys --seconds $seconds --connections $connections\`, $(date -u +%Y-%m-%d), $(nproc) cores; Redis mode."
  echo
  echo "| | runtime keys | resident memory |"
  echo "|---|---|---|"
  echo "| gateway, no runtime keys | 1 | $(( rss_empty / 1024 )) MB |"
  echo "| gateway, $count runtime keys | $count | $(( rss_full / 1024 )) MB |"
  echo
  echo "Memory per runtime key: $(( (rss_full - rss_empty) * 1024 / (count - 1) )) bytes (resident, whole process)."
  echo
  echo "GET /v1/models (authentication and a small answer), $connections connections, $seconds s each, with $count runtime keys loaded:"
  echo
  echo "| key presented | requests/s | mean latency | Redis commands per request | key records read from Redis |"
  echo "|---|---|---|---|---|"
  run_wrk "gateway.json key" "sk-bench-key"
  run_wrk "runtime key" "$runtime_secret"
  run_wrk "made-up key" "sk-gw-0000000000_madeupmadeupmadeupmadeupmadeupmadeupmadeu"
  echo
  echo "Redis commands per request are the replica's own background work over the interval (the key version read once a"
  echo "second, usage flushes, refusals counted per second), not lookups: no key record is read from Redis for any of"
  echo "them (the last column). A made-up key is answered 401 from memory (and 429 from memory once its address is throttled)."
} | tee "$out"
