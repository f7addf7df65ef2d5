using Gateway.Telemetry;
using Polly;
using Polly.Retry;
using Gateway.Requests;
using Gateway.Configuration;

namespace Gateway.Routing;

/// <summary>
/// Which failed attempts are worth another try at the same deployment, before anything reached the client: the
/// provider could not be reached or dropped the connection, answered 502/503, or rate limited with a
/// <c>retry-after</c> short enough to wait for. Everything else goes straight to the next deployment. A retry is made
/// only when its wait still leaves time within the request's deadline.
/// </summary>
internal static class RetryDecision
{
    public static bool WorthRetrying(AttemptResult result, RoutingSettings settings, RequestDeadline? deadline, int attemptNumber)
    {
        if (result.Outcome != AttemptOutcome.FailedBeforeResponse || result.Error is not { } error)
        {
            return false;
        }

        var transient = result.UpstreamStatus is 502 or 503 || error.Code is "upstream_unreachable" or "upstream_stream_interrupted";
        if (!transient && result.UpstreamStatus != 429)
        {
            return false;
        }

        if (error.RetryAfter is { } after)
        {
            return after <= settings.MaxRetryAfter && (deadline?.Allows(after) ?? true);
        }

        // A 429 that does not say when is no invitation to hammer: the next deployment is better.
        return transient && (deadline?.Allows(LongestBackoff(settings, attemptNumber)) ?? true);
    }

    /// <summary>The provider's own <c>retry-after</c> when it gave one; otherwise Polly's jittered exponential backoff.</summary>
    public static TimeSpan? ProviderDelay(AttemptResult result) => result.Error?.RetryAfter;

    private static TimeSpan LongestBackoff(RoutingSettings settings, int attemptNumber) =>
        TimeSpan.FromTicks(Math.Min(settings.MaxDelay.Ticks, settings.BaseDelay.Ticks * (1L << Math.Min(attemptNumber + 1, 20))));
}

/// <summary>
/// The Polly retry pipeline for one <see cref="RoutingSettings"/>, rebuilt only when a reload changes them. Attempts
/// carry their <see cref="ChatExchange"/> and provider in the <see cref="ResilienceContext"/>.
/// </summary>
internal sealed partial class RetryPipelines(GatewayMetrics metrics, TimeProvider clock, ILogger<RetryPipelines> logger)
{
    public static readonly ResiliencePropertyKey<ChatExchange> Exchange = new("gateway.exchange");
    public static readonly ResiliencePropertyKey<string> Provider = new("gateway.provider");

    private volatile Built? _current;

    public ResiliencePipeline<AttemptResult> For(RoutingSettings settings)
    {
        if (_current is { } current && ReferenceEquals(current.Settings, settings))
        {
            return current.Pipeline;
        }

        var built = new Built(settings, Build(settings));
        _current = built;
        return built.Pipeline;
    }

    private sealed record Built(RoutingSettings Settings, ResiliencePipeline<AttemptResult> Pipeline);

    private ResiliencePipeline<AttemptResult> Build(RoutingSettings settings)
    {
        if (settings.MaxRetries == 0)
        {
            return ResiliencePipeline<AttemptResult>.Empty;
        }

        return new ResiliencePipelineBuilder<AttemptResult> { TimeProvider = clock }
            .AddRetry(new RetryStrategyOptions<AttemptResult>
            {
                MaxRetryAttempts = settings.MaxRetries,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = settings.BaseDelay,
                MaxDelay = settings.MaxDelay,
                ShouldHandle = args => ValueTask.FromResult(args.Outcome.Result is { } result &&
                    RetryDecision.WorthRetrying(result, settings, args.Context.Properties.GetValue(Exchange, null!)?.Deadline, args.AttemptNumber)),
                DelayGenerator = args => ValueTask.FromResult(args.Outcome.Result is { } result ? RetryDecision.ProviderDelay(result) : null),
                OnRetry = args =>
                {
                    var provider = args.Context.Properties.GetValue(Provider, "?");
                    var reason = args.Outcome.Result?.Error?.Code ?? "unknown";
                    metrics.Retry(provider, reason);
                    Log.Retrying(logger, args.Context.Properties.GetValue(Exchange, null!)?.RequestId ?? "?", provider, reason,
                        (long)args.RetryDelay.TotalMilliseconds, args.AttemptNumber + 1);
                    return ValueTask.CompletedTask;
                },
            })
            .Build();
    }

    private static partial class Log
    {
        [LoggerMessage(23, LogLevel.Information, "{RequestId}: provider {Provider} failed ({Code}); retry {Retry} in {DelayMs} ms")]
        public static partial void Retrying(ILogger logger, string requestId, string provider, string code, long delayMs, int retry);
    }
}
