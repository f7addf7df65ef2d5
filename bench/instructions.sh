#!/usr/bin/env bash
# The floor relay and the gateway counted in instructions per request instead of timed: each runs under valgrind's
# callgrind in front of the mock upstream, and only a measured window of exactly N requests is counted (callgrind's
# instrumentation switched on and off around it). On a VM whose timings move by half within an hour, this is the
# measure that sizes a change to the request path (docs/performance.md, fourteenth round).
#
#   bench/instructions.sh [--arm floor|gateway|redis]... [--requests 1000] [--windows 4] [--warmup 3000]
#                         [--connections 4] [--stream] [--top 25]
#
# Arms (default: all three): the floor relay (bench/Floor); the gateway without Redis; the gateway in Redis mode (its
# redis-server runs natively on CPU 0 and is not counted here: bench/script-instructions.sh counts it).
#
# What is counted, and what is not:
# - User-space instructions of the process, all its threads. Not the kernel's (system calls, the loopback): perf found
#   them ~25-37% of the gateway's CPU and ~75% of the floor's, so a ratio of these counts overstates the CPU ratio.
# - Both run fully optimised JIT code from the first call (DOTNET_TieredCompilation=0, DOTNET_ReadyToRun=0): tiering
#   would keep compiling in the background for minutes under valgrind, and its compiles would land in the windows. So
#   the code is close to, not the same as, the container's: no dynamic PGO, so no guessed devirtualisation, and
#   interface calls go through the runtime's dispatch stubs ("runtime stubs" below) more often than in production.
# - DOTNET_JitEnableOptionalRelocs=0: under valgrind the runtime's data lands out of a 32-bit reach of the code, and
#   without this most methods fail their optimised compile and fall back to unoptimised code (2,727 of 4,697 at the
#   floor's start; with it, 1).
# - Idle thread-pool workers do not spin (DOTNET_ThreadPool_UnfairSemaphoreSpinLimit=0): a spin is waiting, not work.
# - Valgrind runs one thread at a time and ~50x slower, so work done per second (timers) is counted ~50x per request;
#   small here (no exporter, no scrape), which is why the production arm (OTLP every few seconds) is not offered.
# - A window that still compiled a method (the first answers of a path) counts more: each is printed and the summary
#   takes the window with the fewest. The JIT-compiled code's count is the steady one (the windows of one run agreed
#   within 0.1-1.3%: compare means of windows for a change of 1%); the runtime's moves by a few percent with the
#   collections a window happens to hold. Batches that form by time hold fewer requests than under load.
# - A method only ever entered by a jump from a stub (a delegate's thunk, an interface's dispatch stub) counts as the
#   stub's: callgrind sees no call into it (bench/instructions.py).
#
# Needs valgrind, nginx, python3 (and redis-server for the redis arm). Three to five minutes an arm.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
arms=(); requests=1000; windows=4; warmup=3000; connections=4; kind=json; top=25
while [ $# -gt 0 ]; do
  case "$1" in
    --arm) shift; arms+=("$1") ;;
    --requests) shift; requests="$1" ;;
    --windows) shift; windows="$1" ;;
    --warmup) shift; warmup="$1" ;;
    --connections) shift; connections="$1" ;;
    --stream) kind=stream ;;
    --top) shift; top="$1" ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
[ ${#arms[@]} -gt 0 ] || arms=(floor gateway redis)
for a in "${arms[@]}"; do
  case "$a" in floor|gateway|redis) ;; *) echo "unknown arm $a (floor, gateway or redis)" >&2; exit 2 ;; esac
done
need valgrind callgrind_control callgrind_annotate nginx python3 curl taskset
[[ " ${arms[*]} " != *" redis "* ]] || need redis-server
work="$(pwd)/bench/results/instructions"; rm -rf "$work"; mkdir -p "$work"
wait_seconds=600
run_under=(valgrind --tool=callgrind --instr-atstart=no --smc-check=all-non-file --callgrind-out-file=OUT)
# The gateway's Redis deadlines are raised: under valgrind a decision takes tens of times longer than they allow, and a
# request refused for it would run a path that is not the one measured.
counted=(DOTNET_TieredCompilation=0 DOTNET_ReadyToRun=0 DOTNET_ThreadPool_UnfairSemaphoreSpinLimit=0
  DOTNET_EnableWriteXorExecute=0 DOTNET_PerfMapEnabled=1 DOTNET_JitEnableOptionalRelocs=0
  Limits__DecisionTimeoutMilliseconds=60000 Redis__CommandTimeoutMilliseconds=60000)

echo "# user-space instructions per request, callgrind ($kind, $requests requests a window, $windows windows," \
  "$connections connections, after $warmup requests)"
base=18600
for arm in "${arms[@]}"; do
  dir="$work/$arm"; mkdir -p "$dir"
  run_under[${#run_under[@]}-1]="--callgrind-out-file=$dir/cg.out"
  case "$arm" in
    floor) start_one_floor "$dir" $base "${counted[@]}"; port=$((base + 7)) ;;
    gateway) start_one_gateway "$dir" $base 0 "${counted[@]}"; port=$gw_port ;;
    redis) start_one_gateway "$dir" $base 1 "${counted[@]}"; port=$gw_port ;;
  esac
  python3 bench/instructions.py load $port "$warmup" "$connections" $kind
  for _ in $(seq 1 "$windows"); do
    callgrind_control -z $gw >/dev/null 2>&1
    callgrind_control -i on $gw >/dev/null 2>&1
    python3 bench/instructions.py load $port "$requests" "$connections" $kind
    callgrind_control -i off $gw >/dev/null 2>&1
    callgrind_control -d $gw >/dev/null 2>&1
  done
  cp "/tmp/perf-$gw.map" "$dir/perf.map" 2>/dev/null || true
  _stop_one_gateway
  rm -f "/tmp/perf-$gw.map" "/tmp/perfinfo-$gw.map"
  echo "## $arm"
  # The dumps of the windows: cg.out.1 .. cg.out.N (cg.out itself is the end of the run).
  python3 bench/instructions.py summary "$requests" "$top" "$dir/perf.map" \
    $(for i in $(seq 1 "$windows"); do echo "$dir/cg.out.$i"; done)
  base=$((base + 20))
done
