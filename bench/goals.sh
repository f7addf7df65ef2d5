#!/usr/bin/env bash
# Issue 23's goals as one markdown table, from one bench/run.sh: every figure is a ratio to (or a difference from) the
# floor arm of the same run. Used by bench/run.sh; by hand:
#   bench/goals.sh THROUGHPUT_16.tsv THROUGHPUT_1.tsv [LATENCY_GOALS.md]
# The .tsv files are what bench/throughput.sh writes next to its report (arm, answer, CPU us/request, redis-server's
# share, script calls per request); the .md file holds the rows the load generator wrote (bench/LoadGen --goals).
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: bench/goals.sh THROUGHPUT_16.tsv THROUGHPUT_1.tsv [LATENCY_GOALS.md]" >&2; exit 2; }
echo "| goal | target | measured | met |"
echo "|---|---|---|---|"
awk -F'\t' '
  FNR == 1 { file++ }
  { c = (file == 1 ? 16 : 1); cpu[c, $1, $2] = $3; rs[c, $1, $2] = $4; calls[c, $1, $2] = $5 }
  function ratio(c, arm, kind) { return cpu[c, "floor", kind] > 0 ? cpu[c, arm, kind] / cpu[c, "floor", kind] : -1 }
  # met: "yes" when every figure is within the limit, "partly" when some are, "no" when none is.
  function verdict(ok, n) { return ok == n ? "yes" : (ok > 0 ? "partly" : "no") }
  function ratios(arm, limit,    text, ok, c, k, r, sep) {
    ok = 0; text = ""
    for (c = 16; c >= 1; c -= 15) {
      text = text sprintf("%s%d conn: ", (c == 16 ? "" : "; "), c); sep = ""
      for (k = 1; k <= 2; k++) {
        r = ratio(c, arm, kinds[k]); ok += (r >= 0 && r <= limit)
        text = text sprintf("%s%.2fx %s", sep, r, names[k]); sep = ", "
      }
    }
    return text " | " verdict(ok, 4)
  }
  END {
    kinds[1] = "json"; kinds[2] = "sse"; names[1] = "JSON"; names[2] = "stream"
    print "| Redis mode, CPU per request (gateway + redis-server) | <= 2.5x floor | " ratios("gateway+redis", 2.5) " |"
    ok = (rs[16, "gateway+redis", "json"] <= 30) + (rs[16, "gateway+redis", "sse"] <= 30) + (rs[1, "gateway+redis", "json"] <= 30) + (rs[1, "gateway+redis", "sse"] <= 30)
    printf "| redis-server per request | <= 30 us | 16 conn: %s / %s us; 1 conn: %s / %s us (JSON / stream) | %s |\n", \
      rs[16, "gateway+redis", "json"], rs[16, "gateway+redis", "sse"], rs[1, "gateway+redis", "json"], rs[1, "gateway+redis", "sse"], verdict(ok, 4)
    # One request at a time shows the round trips the client waits for: the admission is one script call; a settlement
    # rides on the next admission or goes 2 ms after the answer, and usage goes in batches, neither on the path.
    one = calls[1, "gateway+redis", "json"]
    printf "| Redis round trips on the request path | one before the first byte upstream, none after it that the client waits for | script calls per request: %s at 16 conn, %s at 1 conn (the admission; settlements and usage batches ride along or go off the path) | %s |\n", \
      calls[16, "gateway+redis", "json"], one, (one != "" && one != "-" && one + 0 <= 1.2 ? "yes" : "no")
    print "| no Redis, CPU per request | <= 2x floor | " ratios("gateway", 2) " |"
    text = ""; ok = 0
    split("gateway gateway+redis", arms, " ")
    for (a = 1; a <= 2; a++) {
      r = cpu[16, arms[a], "json"] > 0 ? cpu[1, arms[a], "json"] / cpu[16, arms[a], "json"] : -1
      ok += (r >= 0 && r <= 2)
      text = text sprintf("%s%s %d / %d = %.2fx", (a == 1 ? "" : "; "), arms[a], cpu[1, arms[a], "json"], cpu[16, arms[a], "json"], r)
    }
    print "| CPU per request at 1 connection vs 16 (JSON) | <= 2x | " text " | " verdict(ok, 2) " |"
  }' "$1" "$2"
[ $# -lt 3 ] || cat "$3"
