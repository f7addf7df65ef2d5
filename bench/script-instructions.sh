#!/usr/bin/env bash
# The gateway's scripts inside redis-server, counted in instructions rather than timed: the load of bench/scripts.sh
# (the bench gateway's plan admitted and settled through RedisLimitEngine, inFlight at a time, then usage records 100 to a
# batch) against a redis-server run under valgrind's callgrind, which counts every instruction the server executes.
# The count does not depend on what else the host is doing: two runs of the same code mostly agree within about 0.5%, and
# within 2% at worst (batches form a little differently from run to run, and the reservations are hash tables, as behind
# the gateway, whose hashing Redis seeds at random at each start), where timings on a busy VM drift by a fifth
# (docs/performance.md, twelfth and thirteenth rounds): repeat and alternate to size a change below 2%. Use it to
# compare changes to the scripts (before / after), then confirm with bench/scripts.sh and bench/throughput.sh, which
# time them.
#
#   bench/script-instructions.sh [requests] [inFlight] [functions]   (defaults 2000, 5, 0)
#
# functions > 0 also lists that many functions by inclusive instructions for the limits. Debian's redis-server is
# stripped, so most of Lua's functions show as addresses there; REDIS_SERVER=/path/to/redis-server points at a build
# with symbols (a checkout of redis's source at the same version, `make`, then src/redis-server).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
requests="${1:-2000}"; in_flight="${2:-5}"; functions="${3:-0}"
# The limits' phase is told apart by size (below): with fewer requests the server's start could outweigh it.
[ "$requests" -ge 500 ] || { echo "requests: at least 500 (the limits' phase must be the largest dump)" >&2; exit 1; }
server="${REDIS_SERVER:-redis-server}"
need valgrind callgrind_annotate redis-cli "$server"
work="$(pwd)/bench/results/script-instructions"; rm -rf "$work"; mkdir -p "$work"
port=18298
# Costs start from zero at each CONFIG RESETSTAT (resetServerStats), and are written out at each INFO (infoCommand): the
# bench resets the stats before each measured phase and reads INFO cpu right after it, so one dump holds exactly the
# limits' phase and a later one the usage phase. The limits' is the largest dump; the usage phase is the largest after
# it (the first dump holds the server's start, and the others an INFO or two).
valgrind --tool=callgrind --zero-before=resetServerStats --dump-before=infoCommand --callgrind-out-file="$work/cg.out" \
  "$server" --port $port --bind 127.0.0.1 --save "" --appendonly no >"$work/redis.log" 2>&1 &
redis_pid=$!
trap 'kill $redis_pid 2>/dev/null || true; wait 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do redis-cli -p $port PING >/dev/null 2>&1 && break; sleep 0.1; done
dotnet build bench/Gateway.Bench -c Release -v q -nologo >/dev/null
# Its timings are valgrind's (tens of times slower), so only its counts of calls and commands are kept.
dotnet bench/Gateway.Bench/bin/Release/net10.0/Gateway.Bench.dll scripts "127.0.0.1:$port" "$requests" "$in_flight" >"$work/bench.txt"
kill $redis_pid; wait $redis_pid 2>/dev/null || true; trap - EXIT

# Each dump's number and total ("summary: N"), in the order written.
mapfile -t dumps < <(for f in "$work"/cg.out.*; do echo "${f##*.} $(awk '/^summary:/ { print $2; exit }' "$f") $f"; done | sort -n)
read -r limits_at limits_total limits_file < <(printf '%s\n' "${dumps[@]}" | sort -k2,2nr | head -1)
read -r _ usage_total _ < <(printf '%s\n' "${dumps[@]}" | awk -v after="$limits_at" '$1 > after' | sort -k2,2nr | head -1)
echo "redis-server instructions (callgrind), $requests requests, $in_flight in flight:"
awk -v t="$limits_total" -v n="$requests" 'BEGIN { printf "  limits: %.0f per request (admission + settlement)\n", t / n }'
awk -v t="$usage_total" -v n="$requests" 'BEGIN { printf "  usage:  %.0f per record (100 to a batch)\n", t / n }'
grep -E "^(script calls|commands inside) " "$work/bench.txt" | sed -n '1,2p' | sed 's/, script time.*//; s/, their time.*//; s/^/  limits: /'
if [ "$functions" -gt 0 ]; then
  echo "functions, inclusive instructions per request (limits):"
  callgrind_annotate --inclusive=yes --auto=no "$limits_file" 2>/dev/null | grep -E '^ *[0-9,]+ \(' | tr -d , | head -n "$functions" \
    | awk -v n="$requests" '{ c = $1; $1 = ""; $2 = ""; printf "  %9.0f %s\n", c / n, $0 }'
fi
