#!/usr/bin/env bash
# The fleet, proven here: the image built with podman (build.sh), Redis, the provider simulator, three gateway
# containers behind HAProxy. Then: one chat per provider kind through the balancer (Hive V2's callback sent to the
# balancer, so it lands on any replica); a rolling restart of all three replicas, one at a time, under a steady load
# of streaming and non-streaming requests, with zero failed client requests; usage in Redis equal to what the
# clients received. Prints "N passed, M failed"; exits non-zero on any failure, or when it cannot run at all.
#   deploy/podman/fleet-proof.sh          (CI runs it; needs podman runc mmdebstrap uidmap haproxy redis-server python3)
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
missing=()
for tool in podman runc mmdebstrap haproxy redis-server redis-cli python3 curl dotnet; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "FLEET PROOF CANNOT RUN: missing ${missing[*]} (apt-get install -y podman runc mmdebstrap uidmap haproxy redis-server python3 curl)" >&2
  echo "0 passed, 1 failed"
  exit 1
fi

work=$(mktemp -d /tmp/fleet-proof.XXXXXX)
lb=18300; sim=18301; redis_port=18302; ports=(18311 18312 18313)
run=(podman --runtime runc --cgroup-manager=cgroupfs)
secret=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
passed=0; failed=0
log() { echo "$*"; }
record() { # PASS/FAIL lines of a stage
  while IFS= read -r line; do
    echo "$line"
    case "$line" in PASS*) passed=$((passed + 1)) ;; FAIL*) failed=$((failed + 1)) ;; esac
  done
}
cleanup() {
  for i in 1 2 3; do "${run[@]}" rm -f -t 0 "fleet-gw-$i" >/dev/null 2>&1; done
  "${run[@]}" rm -f -t 0 fleet-sim >/dev/null 2>&1
  [ -f "$work/haproxy.pid" ] && kill "$(cat "$work/haproxy.pid")" 2>/dev/null
  [ -n "${redis_pid:-}" ] && kill "$redis_pid" 2>/dev/null
  for i in 1 2 3; do podman volume rm -f "fleet-usage-$i" >/dev/null 2>&1; done
  wait 2>/dev/null
}
trap cleanup EXIT

log "== building the images"
if ! deploy/podman/build.sh; then echo "FAIL image build"; echo "0 passed, 1 failed"; exit 1; fi

log "== starting Redis, the simulator, three gateways and HAProxy"
redis-server --port $redis_port --bind 127.0.0.1 --save "" --appendonly no --dir "$work" >"$work/redis.log" 2>&1 &
redis_pid=$!
"${run[@]}" run -d --name fleet-sim --network=host --read-only --ulimit nofile=20000:20000 --ulimit nproc=4096:4096 \
  -e ASPNETCORE_URLS=http://127.0.0.1:$sim localhost/llm-gateway-simulator:dev >/dev/null

start_gateway() { # replica number
  local i=$1 port=${ports[$(($1 - 1))]}
  "${run[@]}" run -d --name "fleet-gw-$i" --network=host --read-only --ulimit nofile=20000:20000 --ulimit nproc=4096:4096 \
    -v "$root/deploy/gateway.demo.json:/etc/gateway/gateway.json:ro" -v "fleet-usage-$i:/var/lib/gateway" \
    -e ASPNETCORE_URLS=http://127.0.0.1:$port -e Redis__Configuration=127.0.0.1:$redis_port \
    -e Server__PublicBaseUrl=http://127.0.0.1:$lb -e GATEWAY_CALLBACK_SECRET="$secret" -e Server__TrustedProxies__0=127.0.0.1/32 \
    -e Providers__hive__BaseUrl=http://127.0.0.1:$sim -e Providers__hive2__BaseUrl=http://127.0.0.1:$sim \
    -e Providers__deepinfra__BaseUrl=http://127.0.0.1:$sim -e Providers__segmind__BaseUrl=http://127.0.0.1:$sim \
    -e HIVE_API_KEY=sim-hive-key -e HIVE_V2_API_KEY=sim-hive-v2-key -e DEEPINFRA_API_KEY=sim-deepinfra-key -e SEGMIND_API_KEY=sim-segmind-key \
    -e Lifecycle__DrainDelaySeconds=3 -e Lifecycle__ShutdownGraceSeconds=15 \
    localhost/llm-gateway:dev >/dev/null
}
wait_ready() { # port; up to 90 s: generous, for three replicas starting at once on two busy cores (each is ready after ~3 s alone)
  for _ in $(seq 1 450); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/readyz")" = 200 ] && return 0
    sleep 0.2
  done
  return 1
}
for i in 1 2 3; do start_gateway $i; done
cat >"$work/haproxy.cfg" <<CFG
global
  maxconn 4000
defaults
  mode http
  option forwardfor
  option http-no-delay
  timeout connect 2s
  timeout http-request 30s
  timeout http-keep-alive 60s
  timeout client 10m
  timeout server 10m
  retries 3
  option redispatch 1
  option http-buffer-request
  retry-on conn-failure empty-response
frontend api
  bind 127.0.0.1:$lb
  default_backend gateways
backend gateways
  balance leastconn
  option httpchk GET /readyz
  http-check expect status 200
  default-server inter 500ms fall 2 rise 2
  server gateway-1 127.0.0.1:${ports[0]} check
  server gateway-2 127.0.0.1:${ports[1]} check
  server gateway-3 127.0.0.1:${ports[2]} check
CFG
haproxy -f "$work/haproxy.cfg" -D -p "$work/haproxy.pid"
for port in "${ports[@]}" "$lb"; do
  if ! wait_ready "$port"; then
    echo "FAIL :$port never became ready"; "${run[@]}" logs fleet-gw-1 2>&1 | tail -20; echo "$passed passed, $((failed + 1)) failed"; exit 1
  fi
done
sleep 1.5

export LB_URL=http://127.0.0.1:$lb
log "== one chat per provider kind through the balancer"
record < <(python3 deploy/podman/fleet_check.py smoke "$work/received.json" 2>&1)

log "== rolling restart under load"
rm -f "$work/stop"
python3 deploy/podman/fleet_check.py load "$work/stop" "$work/received.json" >"$work/load.out" 2>&1 &
load_pid=$!
sleep 3
for i in 1 2 3; do
  port=${ports[$((i - 1))]}
  began=$(date +%s.%N)
  "${run[@]}" stop -t 40 "fleet-gw-$i" >/dev/null
  code=$("${run[@]}" inspect "fleet-gw-$i" --format '{{.State.ExitCode}}')
  stopped=$(date +%s.%N)
  "${run[@]}" logs "fleet-gw-$i" >"$work/gw-$i-run1.log" 2>&1
  "${run[@]}" rm "fleet-gw-$i" >/dev/null
  start_gateway $i
  if wait_ready "$port"; then ok=1; else ok=0; fi
  record <<<"$([ $ok = 1 ] && [ "$code" = 0 ] && echo PASS || echo FAIL) replica $i stopped cleanly (exit $code, $(awk -v a="$began" -v b="$stopped" 'BEGIN { printf "%.1f", b - a }') s) and came back ready"
  # Let the balancer see it up again (rise 2 x 500 ms) before the next one goes.
  sleep 2
done
sleep 2
touch "$work/stop"
wait $load_pid
record <"$work/load.out"

log "== usage in Redis against what the clients received"
record < <(python3 deploy/podman/fleet_check.py usage "$work/received.json" 2>&1)

grep -h "Unhandled\|fail:" "$work"/gw-*-run1.log >/dev/null && { echo "FAIL a replica logged an error while stopping"; failed=$((failed + 1)); grep -h "fail:" "$work"/gw-*-run1.log | head -5; }
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
