#!/usr/bin/env bash
# What each kind of counter in a key's plan costs inside redis-server, counted in instructions: bench/script-instructions.sh
# run once per plan shape (SCRIPTS_PLAN, bench/Gateway.Bench/ScriptCost.cs), at 5 operations in flight (about one batch
# at 16 connections) and at 1. A plan holds only the counters its key's limits configure (LimitPlan.Build), so this is the
# price list for "fewer counters per plan": what leaving a limit out of a key's configuration saves per request.
#
#   bench/plan-prices.sh [requests]     (default 2000; about 25 s per shape and in-flight figure, 7 minutes in all)
#
# Instructions are not time, but on one host they scale alike (docs/performance.md, twelfth round: ~3,100 per µs here).
set -euo pipefail
cd "$(dirname "$0")/.."
requests="${1:-2000}"
# The gateway always sends a recovery record in Redis mode (RateLimiter.AdmitAsync), so every shape but the first has one;
# the first prices the reservation and its settlement alone.
shapes=(rpm rpm,recovery tpm,recovery rpm,tpm,recovery rpm,tpm,inflight,recovery rpm,tpm,budget,recovery all all,team)
echo "| plan (SCRIPTS_PLAN) | instructions per request, 5 in flight | commands per request | 1 in flight | commands |"
echo "|---|---|---|---|---|"
for shape in "${shapes[@]}"; do
  row="| $shape"
  for in_flight in 5 1; do
    out=$(SCRIPTS_PLAN="$shape" bench/script-instructions.sh "$requests" "$in_flight")
    per_request=$(awk '/limits: [0-9]+ per request/ { print $2 }' <<<"$out")
    commands=$(awk '/limits: commands inside per request/ { print $NF }' <<<"$out")
    row+=" | $per_request | $commands"
  done
  echo "$row |"
done
