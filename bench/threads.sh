#!/usr/bin/env bash
# Where a gateway's CPU goes, thread by thread: CPU µs and context switches per request of each kind of thread
# (thread-pool workers, the socket event loop, timers...), from /proc/<pid>/task over one wrk run. It shows the idle
# cost: at low concurrency, workers woken for one work item spin before they sleep again.
#
#   bench/threads.sh [--redis | --floor] [--connections 1] [--seconds 5] [--env "NAME=value ..."]
#
# --floor measures the floor arm (bench/Floor) in front of the same mock instead: the hand-offs a bare .NET proxy needs.
#
# The gateway (JIT settings of the container) is pinned to CPU 1; wrk, the mock upstream and Redis to CPU 0.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
redis=0; floor=0; connections=1; seconds=5; env=""
while [ $# -gt 0 ]; do
  case "$1" in
    --redis) redis=1 ;;
    --floor) floor=1 ;;
    --connections) shift; connections="$1" ;;
    --seconds) shift; seconds="$1" ;;
    --env) shift; env="$1" ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
need nginx redis-server wrk taskset curl
work="$(pwd)/bench/results/threads"; rm -rf "$work"; mkdir -p "$work"
if [ $floor = 1 ]; then
  start_one_floor "$work" 18290
else
  # shellcheck disable=SC2086 # the NAME=value pairs of --env, one word each
  start_one_gateway "$work" 18290 $redis $env
fi
write_wrk_script "$work/json.lua" '{"model":"bench-llama","messages":[{"role":"user","content":"Say something short about foxes."}]}'
url=$gw_url
taskset -c 0 wrk -t1 -c"$connections" -d"${jit_warmup}s" -s "$work/json.lua" "$url" >/dev/null

# tid, kind of thread (its name), CPU ticks, context switches (voluntary + not).
snapshot() {
  for t in /proc/$gw/task/*; do
    printf '%s\t%s\t%s\t%s\n' "$(basename "$t")" "$(tr ' ' '_' <"$t/comm")" "$(sed 's/.*) //' "$t/stat" | awk '{print $12 + $13}')" \
      "$(awk '/^voluntary_ctxt/ {v = $2} /^nonvoluntary_ctxt/ {n = $2} END {print v + n}' "$t/status")"
  done 2>/dev/null | sort
}
snapshot >"$work/before"
text=$(taskset -c 0 wrk -t1 -c"$connections" -d"${seconds}s" -s "$work/json.lua" "$url")
snapshot >"$work/after"
requests=$(awk '/requests in/ {print $1}' <<<"$text")
echo "# $([ $floor = 1 ] && echo floor || echo gateway)$([ $redis = 1 ] && echo " + Redis"), $connections connection(s), ${seconds}s: $requests requests${env:+ ($env)}"
echo "# threads that ended during the run are not counted; ones that started count from zero"
join -t $'\t' -a 2 -e 0 -o 2.1,2.2,1.3,2.3,1.4,2.4 "$work/before" "$work/after" |
  awk -F'\t' -v n="$requests" -v hz="$(getconf CLK_TCK)" '
    { cpu[$2] += ($4 - $3) * 1000000 / hz / n; cs[$2] += ($6 - $5) / n; tc += ($4 - $3) * 1000000 / hz / n; tcs += ($6 - $5) / n }
    END { for (k in cpu) if (cpu[k] >= 0.5 || cs[k] >= 0.05) printf "%-24s CPU %7.1f us/request   context switches %6.2f/request\n", k, cpu[k], cs[k]
          printf "%-24s CPU %7.1f us/request   context switches %6.2f/request\n", "all_threads", tc, tcs }' | sort -k3 -nr
