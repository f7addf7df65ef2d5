#!/usr/bin/env bash
# README's "Run the tests": installs the programs the tests start (a real redis-server and Prometheus, Debian's
# Chromium for the dashboard's browser test) when they are missing, then runs the whole suite. Extra arguments go to
# `dotnet test` (e.g. --filter "FullyQualifiedName~Tenants").
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
[ -x /usr/bin/chromium ] || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then sudo=(); elif command -v sudo >/dev/null 2>&1; then sudo=(sudo); else sudo=(none); fi
  if [ "${sudo[0]:-}" = none ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "The tests start these programs themselves; install them first: ${missing[*]} (Debian/Ubuntu: apt-get install ${missing[*]})" >&2
    exit 1
  fi
  echo "installing what the tests start: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# The tests start their own servers on free loopback ports; system services of the same programs are not needed.
if command -v systemctl >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then systemctl stop redis-server prometheus >/dev/null 2>&1 || true; fi

exec dotnet test Gateway.slnx -c Release "$@"
