#!/usr/bin/env bash
# Builds the gateway image (and the simulator's) with podman on a machine without Docker or a registry:
# a Debian base made with mmdebstrap, a self-contained publish, the top-level Dockerfile's "prebuilt" path.
#   deploy/podman/build.sh            -> localhost/llm-gateway:dev, localhost/llm-gateway-simulator:dev
# Needs: podman runc mmdebstrap uidmap (apt-get install -y podman runc mmdebstrap uidmap) and the .NET SDK.
set -euo pipefail
cd "$(dirname "$0")/../.."
for tool in podman runc mmdebstrap dotnet; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool is missing (apt-get install -y podman runc mmdebstrap uidmap; the .NET SDK)" >&2; exit 1; }
done

base=localhost/debian:bookworm-min
if ! podman image exists "$base"; then
  work=$(mktemp -d)
  echo "== making $base with mmdebstrap"
  mmdebstrap --variant=minbase --include=ca-certificates,libicu72,libssl3,tzdata bookworm "$work/base.tar" >"$work/mmdebstrap.log" 2>&1 \
    || { tail -20 "$work/mmdebstrap.log" >&2; exit 1; }
  podman import "$work/base.tar" "$base" >/dev/null
  rm -rf "$work"
fi

echo "== publishing (self-contained, linux-x64)"
rm -rf publish publish-simulator
dotnet publish src/Gateway/Gateway.csproj -c Release -r linux-x64 --self-contained -o publish -v q -nologo >/dev/null
dotnet publish tests/ProviderSimulator/ProviderSimulator.csproj -c Release -r linux-x64 --self-contained -o publish-simulator -v q -nologo >/dev/null

# RUN steps need chroot isolation here; the official bases are replaced by the local one (nothing is pulled).
args=(--isolation=chroot --build-arg "RUNTIME_IMAGE=$base" --build-arg "SDK_IMAGE=$base" --build-arg APP_SOURCE=prebuilt)
echo "== building localhost/llm-gateway:dev"
podman build "${args[@]}" -t localhost/llm-gateway:dev -f Dockerfile . >/dev/null
echo "== building localhost/llm-gateway-simulator:dev"
podman build "${args[@]}" -t localhost/llm-gateway-simulator:dev -f deploy/simulator/Dockerfile . >/dev/null
rm -rf publish publish-simulator
podman images --filter reference='localhost/llm-gateway*'
