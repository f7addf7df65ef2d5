using Gateway.Configuration;
using Gateway.Errors;
using Gateway.Telemetry;

namespace Gateway.RateLimiting;

/// <summary>
/// Keeps the gateway under a provider's own request rate (Hive V3: 5 per second by default), for
/// all replicas together: a request waits for a slot (up to a bound) or is shed at once, instead
/// of collecting the provider's 429s.
/// </summary>
internal sealed partial class ProviderPacer(ILimitEngine engine, GatewayMetrics metrics, TimeProvider clock, ILogger<ProviderPacer> logger)
{
    private static readonly TimeSpan Window = TimeSpan.FromSeconds(1);

    /// <summary>Null when the request may go; otherwise the error for this attempt (another deployment may serve).</summary>
    public async Task<GatewayError?> WaitTurnAsync(ProviderRuntime provider, CancellationToken cancellationToken)
    {
        if (provider.Options.RequestsPerSecond is not { } limit)
        {
            return null;
        }

        var queue = provider.Options.WhenLimited.Equals("queue", StringComparison.OrdinalIgnoreCase);
        var deadline = clock.GetUtcNow() + TimeSpan.FromSeconds(provider.Options.MaxQueueSeconds);
        while (true)
        {
            bool admitted;
            TimeSpan retry;
            try
            {
                (admitted, retry) = await engine.TryAcquireAsync("p:" + provider.Name, limit, Window).WaitAsync(TimeSpan.FromMilliseconds(250), clock, cancellationToken);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // Pacing is a courtesy to the provider; without the shared counter, let the request go.
                Log.PacerUnavailable(logger, provider.Name, ex.GetType().Name);
                return null;
            }

            if (admitted)
            {
                return null;
            }

            retry = retry < TimeSpan.FromMilliseconds(5) ? TimeSpan.FromMilliseconds(5) : retry;
            if (!queue || clock.GetUtcNow() + retry > deadline)
            {
                return new GatewayError(429, "requests",
                    $"Provider '{provider.Name}' is at its request rate limit ({limit}/s).", Code: "rate_limit_exceeded") { RetryAfter = retry };
            }

            metrics.PacerQueued(provider.Name, +1);
            try
            {
                await Task.Delay(retry, clock, cancellationToken);
            }
            finally
            {
                metrics.PacerQueued(provider.Name, -1);
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(82, LogLevel.Warning, "Provider pacing for {Provider} unavailable ({Reason}); sending without pacing")]
        public static partial void PacerUnavailable(ILogger logger, string provider, string reason);
    }
}
