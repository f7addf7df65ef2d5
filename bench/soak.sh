#!/usr/bin/env bash
# Memory and disk under sustained load, through the embedded default (no Redis):
#
#   bench/soak.sh [--minutes 60] [--connections 16] [--sample 30] [--segment-mb 64] [--check] [--out bench/results/soak.md]
#
# A zero-delay mock upstream (nginx returning a fixed completion), wrk for the whole run, and every --sample seconds
# the gateway's resident memory, the requests it has answered (its own gateway.requests counter) and the size of
# its usage journal. The report gives the table and, over the second half of the run or from 300,000 requests,
# whichever is later (after warm-up and after the bounded sets have filled), the memory growth per request (how far the
# peak resident memory of that part's second half rose over every earlier peak); and the journal's bytes per request.
# --segment-mb is Metering:JournalSegmentBytes: the open journal file is sealed and compressed at that size, so on
# disk a run takes that much plus ~50 bytes a request.
# --check fails the run when memory grew more than 32 bytes a request over that part (an unbounded set of
# ~100-byte ids would show ~110), or the journal took more than 200 bytes a request (uncompressed it is ~400; CI
# runs this for 2 minutes with --segment-mb 8).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
root=$(pwd)
minutes=60; connections=16; sample=30; segment_mb=64; check=0; out="$root/bench/results/soak.md"
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) shift; minutes="$1" ;;
    --connections) shift; connections="$1" ;;
    --sample) shift; sample="$1" ;;
    --segment-mb) shift; segment_mb="$1" ;;
    --check) check=1 ;;
    --out) shift; out="$1" ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
for tool in nginx wrk curl; do
  command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install -y nginx wrk curl" >&2; exit 1; }
done
work="$root/bench/results/soak"; rm -rf "$work"; mkdir -p "$work"
mock_port=18101; gw_port=18103
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$work/mock.pid" ] && kill "$(cat "$work/mock.pid")" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT

dotnet build src/Gateway -c Release -v q -nologo >/dev/null

write_mock_upstream "$work" $mock_port
nginx -c "$work/mock.conf" -p "$work" -e "$work/mock-error.log"

write_gateway_config "$work/gateway.json" $mock_port
cat >"$work/json.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"model":"bench-llama","messages":[{"role":"user","content":"Say something short about foxes."}]}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer sk-bench-key"
LUA

# The container's JIT settings (Dockerfile); the access log at Warning, as a busy fleet would run it.
BENCH_DEEPINFRA_KEY=sim-key GATEWAY_CONFIG="$work/gateway.json" env $container_jit \
  dotnet src/Gateway/bin/Release/net10.0/Gateway.dll --urls "http://127.0.0.1:$gw_port" \
  --Metering:JournalDirectory="$work/journal" --Metering:JournalSegmentBytes=$(( segment_mb * 1048576 )) --Logging:LogLevel:Gateway.AccessLog=Warning >"$work/gateway.log" 2>&1 &
gw=$!; pids+=($gw)
# Up to a minute: with the container's JIT settings the request path is compiled before the listener opens.
for _ in $(seq 1 600); do curl -fs "http://127.0.0.1:$gw_port/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fs "http://127.0.0.1:$gw_port/healthz" >/dev/null || { echo "the gateway did not start: $work/gateway.log" >&2; exit 1; }

# A sample line is name{labels} value [timestamp]: the value is the first field after the labels.
requests() { curl -fs "http://127.0.0.1:$gw_port/metrics" | awk '/^gateway_requests_total/ { sub(/^[^}]*} /, ""); split($0, f, " "); n += f[1] } END { printf "%d", n }'; }
rss_kb() { awk '/VmRSS/ { print $2 }' "/proc/$gw/status"; }
journal_bytes() { du -sb "$work/journal" | cut -f1; }

wrk -t1 -c"$connections" -d"${minutes}m" --timeout 10s -s "$work/json.lua" "http://127.0.0.1:$gw_port/v1/chat/completions" >"$work/wrk.txt" 2>&1 &
wrk_pid=$!; pids+=($wrk_pid)
start=$(date +%s)
samples=()
while kill -0 "$wrk_pid" 2>/dev/null; do
  sleep "$sample"
  kill -0 "$wrk_pid" 2>/dev/null || break
  line="$(( $(date +%s) - start )) $(requests) $(rss_kb) $(journal_bytes)"
  samples+=("$line"); echo "   $line (seconds, requests, RSS KB, journal bytes)"
done
wait "$wrk_pid" || true
failed=$(awk '/Non-2xx/ { n += $NF } END { print n + 0 }' "$work/wrk.txt")

{
  echo "# Soak: memory and disk under sustained load (embedded default, no Redis)"
  echo
  echo "- Command: \`bench/soak.sh --minutes $minutes --connections $connections --sample $sample --segment-mb $segment_mb$([ $check = 1 ] && echo ' --check')\`"
  echo "- Date (UTC): $(date -u '+%Y-%m-%d %H:%M'); machine: $(nproc) CPUs; zero-delay mock upstream; non-2xx answers: $failed"
  echo
  echo "| minute | requests | RSS MB | journal MB |"
  echo "|---|---|---|---|"
  for s in "${samples[@]}"; do
    read -r t n rss j <<<"$s"
    awk -v t="$t" -v n="$n" -v r="$rss" -v j="$j" 'BEGIN { printf "| %.1f | %d | %.1f | %.1f |\n", t / 60, n, r / 1024, j / 1048576 }'
  done
} >"$out"

count=${#samples[@]}
[ "$count" -ge 4 ] || { cat "$out"; echo "too few samples ($count): run longer or sample more often" >&2; exit 1; }
# The window starts at the middle sample, or later at the first one past 300,000 requests: the bounded sets (100,000
# recent record ids) fill and the heap settles first; on a slow machine that takes more than half a short run.
from=$(( count / 2 ))
while [ $from -lt $(( count - 2 )) ] && [ "$(cut -d' ' -f2 <<<"${samples[$from]}")" -lt 300000 ]; do from=$(( from + 1 )); done
# Resident memory is a sawtooth (the GC grows the heap, then collects): comparing two single samples measures where each
# fell on a tooth (a CI run once read 35 bytes a request off a flat run that way). What a leak does is lift the peaks:
# growth is the highest sample of the second half of the window over the highest of everything before it.
mid=$(( from + (count - from) / 2 ))
peak_before=0; for s in "${samples[@]:0:$mid}"; do read -r _ _ r _ <<<"$s"; [ "$r" -gt "$peak_before" ] && peak_before=$r; done
peak_after=0; for s in "${samples[@]:$mid}"; do read -r _ _ r _ <<<"$s"; [ "$r" -gt "$peak_after" ] && peak_after=$r; done
read -r _ n_half _ _ <<<"${samples[$(( mid - 1 ))]}"
read -r _ n_end _ j_end <<<"${samples[$(( count - 1 ))]}"
verdict=$(awk -v n1="$n_half" -v n2="$n_end" -v r1="$peak_before" -v r2="$peak_after" -v j="$j_end" -v failed="$failed" -v check="$check" 'BEGIN {
  growth = (n2 > n1) ? (r2 - r1) * 1024 / (n2 - n1) : 0; per = (n2 > 0) ? j / n2 : 0
  printf "- Settled part (from the middle or from 300,000 requests, whichever is later): peak RSS %.1f MB before its second half, %.1f MB in it, over %d requests: %.1f bytes per request.\n", r1 / 1024, r2 / 1024, n2 - n1, growth
  printf "- Journal: %.1f MB for %d requests: %.0f bytes per request on disk.\n", j / 1048576, n2, per
  ok = (growth <= 32 && per <= 200 && failed == 0)
  if (check) printf "- Check (growth <= 32 bytes/request, journal <= 200 bytes/request, no failed answers): %s\n", ok ? "passed" : "FAILED"
  exit ok ? 0 : 3 }') && status=0 || status=$?
{ echo; echo "$verdict"; } >>"$out"
cat "$out"
if [ $check = 1 ] && [ $status -ne 0 ]; then exit 1; fi
