# Multi-stage build: the SDK image builds, the smaller ASP.NET runtime image runs, as a non-root user.
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
COPY global.json Directory.Build.props Directory.Packages.props ./
COPY src/Translators/Translators.csproj src/Translators/
COPY src/Gateway/Gateway.csproj src/Gateway/
RUN dotnet restore src/Gateway/Gateway.csproj
COPY src/ src/
RUN dotnet publish src/Gateway/Gateway.csproj -c Release --no-restore -o /app

FROM mcr.microsoft.com/dotnet/aspnet:10.0
WORKDIR /app
COPY --from=build /app ./
COPY gateway.json /etc/gateway/gateway.json
ENV GATEWAY_CONFIG=/etc/gateway/gateway.json \
    ASPNETCORE_URLS=http://+:8080 \
    DOTNET_USE_POLLING_FILE_WATCHER=1
EXPOSE 8080
# The image's built-in unprivileged user.
USER $APP_UID
ENTRYPOINT ["dotnet", "Gateway.dll"]
