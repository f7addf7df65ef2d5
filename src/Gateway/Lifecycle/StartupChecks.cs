using Gateway.Configuration;
using Gateway.Metering;

namespace Gateway.Lifecycle;

/// <summary>One finding about this replica's set-up: <c>ok</c>, <c>problem</c> (it cannot serve something) or <c>degraded</c>.</summary>
internal sealed record Check(string Name, string Status, string Detail);

/// <summary>
/// What a new operator needs to hear first: what is missing, and the exact next step. Logged once at start (warnings),
/// and listed by <c>/readyz?verbose</c> at any time.
/// </summary>
internal sealed partial class StartupChecks(ConfigStore config, MeteringSettings metering, Auth.IKeyDirectory runtimeKeys, IServiceProvider services,
    ILogger<StartupChecks> logger)
{
    public IEnumerable<Check> Run()
    {
        var snapshot = config.Current;
        var runtime = runtimeKeys.ActiveCount;
        yield return new Check("configuration", "ok",
            $"{snapshot.Models.Count} models, {snapshot.Providers.Count} providers, {snapshot.KeysByHash.Count} client keys");
        yield return snapshot.KeysByHash.Count + runtime == 0
            ? new Check("client_keys", "problem",
                "No client keys: every request gets 401. For a first key set GATEWAY_BOOTSTRAP_KEY=<a secret> and restart; for real keys add their " +
                "SHA-256 under Keys in gateway.json (README, \"Client keys\").")
            : new Check("client_keys", "ok", $"{snapshot.KeysByHash.Count} keys from gateway.json, {runtime} made at runtime");
        foreach (var provider in snapshot.Providers.Values.OrderBy(p => p.Name, StringComparer.Ordinal))
        {
            yield return string.IsNullOrEmpty(provider.ApiKey)
                ? new Check($"provider:{provider.Name}", "problem",
                    $"Environment variable {provider.ApiKeyEnv} is not set: requests routed to {provider.Name} fail with provider_not_configured. Set it and restart.")
                : new Check($"provider:{provider.Name}", "ok", $"key from {provider.ApiKeyEnv}");
        }

        if (services.GetService<StackExchange.Redis.IConnectionMultiplexer>() is { } redis)
        {
            yield return redis.IsConnected
                ? new Check("redis", "ok", "connected")
                : new Check("redis", "degraded", "not connected: limits fail as configured (rates open, budgets closed), usage waits in the spill, callbacks fall back to polling");
        }
        else
        {
            yield return new Check("redis", "ok", "not configured: limits, usage and callbacks live in this process (one instance)");
        }

        yield return new Check("usage_journal", "ok", Path.GetFullPath(metering.JournalDirectory));
    }

    /// <summary>Logs every problem once, at start, with its next step.</summary>
    public void Report()
    {
        foreach (var check in Run().Where(c => c.Status == "problem" && c.Name == "client_keys"))
        {
            Log.Problem(logger, check.Name, check.Detail);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(123, LogLevel.Warning, "{Check}: {Detail}")]
        public static partial void Problem(ILogger logger, string check, string detail);
    }
}
