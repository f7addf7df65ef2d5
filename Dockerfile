# The gateway's image: a self-contained build on a minimal base, run as a non-root user on a read-only root
# file system. Configuration is mounted at /etc/gateway/gateway.json (a default copy is baked in); usage records
# go to the volume /var/lib/gateway (one per replica); nothing else is written.
#
#   docker build -t llm-gateway .                                  # official .NET images (the defaults below)
#   deploy/podman/build.sh                                          # here: no registry, see deploy/README.md
#
# Base images are build arguments, so the same file builds on any Docker host and on a machine without a registry.
ARG SDK_IMAGE=mcr.microsoft.com/dotnet/sdk:10.0
ARG RUNTIME_IMAGE=mcr.microsoft.com/dotnet/runtime-deps:10.0
# "build" compiles in the SDK image; "prebuilt" takes a self-contained publish from the build context (publish/).
ARG APP_SOURCE=build

FROM ${SDK_IMAGE} AS build
ARG TARGETARCH=amd64
WORKDIR /src
COPY global.json Directory.Build.props Directory.Packages.props ./
COPY src/Translators/Translators.csproj src/Translators/
COPY src/Gateway/Gateway.csproj src/Gateway/
RUN rid=linux-$(echo "$TARGETARCH" | sed 's/amd64/x64/') \
 && dotnet restore src/Gateway/Gateway.csproj -r "$rid"
COPY src/ src/
RUN rid=linux-$(echo "$TARGETARCH" | sed 's/amd64/x64/') \
 && dotnet publish src/Gateway/Gateway.csproj -c Release -r "$rid" --self-contained --no-restore -o /app

FROM scratch AS prebuilt
COPY publish/ /app/

FROM ${APP_SOURCE} AS app

FROM ${RUNTIME_IMAGE}
# The official images' unprivileged user id; a numeric id needs no /etc/passwd entry on other bases.
ARG APP_UID=1654
WORKDIR /app
COPY --from=app /app/ ./
COPY gateway.json /etc/gateway/gateway.json
RUN mkdir -p /var/lib/gateway/usage && chown -R ${APP_UID}:${APP_UID} /var/lib/gateway
# JIT: tiered compilation with dynamic PGO (the runtime's defaults), counting calls from the first one. Hot methods are
# recompiled with what the running code showed (which interface is called, which branch is taken): ~40% less CPU per
# request than compiling each method once, fully optimised, without that profile (docs/performance.md, sixth round).
# The runtime's default waits until no method has been compiled for 100 ms, ten times that on one CPU, before it
# counts calls; under load on a busy CPU that wait kept restarting, and a new replica ran at half speed for over a minute.
# Counting from the first call, a replica saturated on one core runs its final code after ~10 s, and reports ready
# after ~3 s instead of ~11 (bench/warmup.sh).
ENV DOTNET_TieredPGO=1 \
    DOTNET_TC_CallCountingDelayMs=0
ENV GATEWAY_CONFIG=/etc/gateway/gateway.json \
    Metering__JournalDirectory=/var/lib/gateway/usage \
    ASPNETCORE_URLS=http://+:8080 \
    DOTNET_USE_POLLING_FILE_WATCHER=1 \
    DOTNET_NOLOGO=1 \
    DOTNET_gcServer=0
VOLUME /var/lib/gateway
EXPOSE 8080
USER ${APP_UID}:${APP_UID}
ENTRYPOINT ["/app/Gateway"]
