using Gateway;
using Gateway.Configuration;

// Run socket completions on the I/O thread instead of hopping to the thread pool: a proxy does
// little work per event, and the hop dominated its added latency (bench/REPORT.md). Nothing on
// the request path blocks. Set DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=0 to opt out.
if (Environment.GetEnvironmentVariable("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS") is null)
{
    Environment.SetEnvironmentVariable("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS", "1");
}

// No distributed-tracing handler on outgoing calls: trace headers never go to third-party providers
// (see ProviderClients), so the handler would only cost time on every request.
AppContext.SetSwitch("System.Net.Http.EnableActivityPropagation", false);

try
{
    var app = GatewayApp.Create(args);
    await app.RunAsync();
    return 0;
}
catch (GatewayConfigurationException ex)
{
    await Console.Error.WriteLineAsync(ex.Message);
    return 1;
}
catch (IOException ex) when (ex.InnerException is Microsoft.AspNetCore.Connections.AddressInUseException)
{
    // Another process (often an earlier gateway still draining) holds the port: say so, not a stack trace.
    await Console.Error.WriteLineAsync(
        $"{ex.Message} Stop what listens there, or start the gateway on another address (--urls http://127.0.0.1:5001).");
    return 1;
}
