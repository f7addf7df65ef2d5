using Gateway.Errors;
using Gateway.RateLimiting;
using Gateway.Telemetry;

namespace Gateway.Forwarding;

/// <summary>
/// Sends a chat exchange to the deployments of its model, in order. The next deployment is tried
/// only while nothing has been sent to the client, and only for failures another deployment could
/// avoid (not the client's own).
/// </summary>
internal sealed partial class ChatForwarder(IEnumerable<IDeploymentInvoker> invokers, ProviderPacer pacer, GatewayMetrics metrics,
    ILogger<ChatForwarder> logger)
{
    private readonly IDeploymentInvoker[] _invokers = [.. invokers];

    public async Task<AttemptResult> ForwardAsync(HttpContext context, ChatExchange exchange)
    {
        AttemptResult? last = null;
        AttemptResult? firstRejection = null;
        var deployments = exchange.Route.Deployments;
        for (var i = 0; i < deployments.Count; i++)
        {
            var deployment = deployments[i];
            var provider = deployment.Provider;
            if (string.IsNullOrEmpty(provider.ApiKey))
            {
                Log.NoCredentials(logger, exchange.RequestId, provider.Name, provider.ApiKeyEnv);
                last = AttemptResult.Before(GatewayError.ProviderNotConfigured(), retryable: true);
                metrics.UpstreamError(provider.Name, last.Error!.Code!);
                continue;
            }

            var invoker = Array.Find(_invokers, x => x.CanServe(provider))!;
            var previous = exchange.ServedBy;
            // Set before sending: the answer's writers price it while they write.
            exchange.ServedBy = deployment;
            using var span = AttemptSpan.Start(exchange, deployment, i);
            var paced = await pacer.WaitTurnAsync(provider, context.RequestAborted);
            var result = paced is null
                ? await invoker.SendAsync(context, exchange, deployment)
                : AttemptResult.Before(paced, retryable: true);
            AttemptSpan.End(span, result, context.Response.StatusCode);
            if (result.Outcome is AttemptOutcome.FailedBeforeResponse or AttemptOutcome.FailedDuringResponse)
            {
                metrics.UpstreamError(provider.Name, result.Error!.Code ?? result.Error.Type);
            }
            if (result.Outcome == AttemptOutcome.Rejected)
            {
                // This deployment cannot honour the request as sent; a later one may.
                exchange.ServedBy = previous;
                firstRejection ??= result;
                continue;
            }

            last = result;
            if (result.Outcome != AttemptOutcome.FailedBeforeResponse || !result.Retryable || context.RequestAborted.IsCancellationRequested)
            {
                break;
            }

            if (i + 1 < deployments.Count)
            {
                Log.FallingBack(logger, exchange.RequestId, provider.Name, result.Error!.Code);
                metrics.Fallback(exchange.Route.Name, provider.Name, result.Error.Code);
                span?.SetTag("gateway.fallback.reason", result.Error.Code);
            }
        }

        // When no deployment could take the request, the client's parameters are the problem.
        last ??= firstRejection!;
        if (last.Outcome is AttemptOutcome.FailedBeforeResponse or AttemptOutcome.Rejected)
        {
            await ErrorWriter.WriteAsync(context, last.Error!);
        }

        return last;
    }

    private static partial class Log
    {
        [LoggerMessage(20, LogLevel.Error, "{RequestId}: provider {Provider} has no key: environment variable {Variable} is empty")]
        public static partial void NoCredentials(ILogger logger, string requestId, string provider, string variable);

        [LoggerMessage(21, LogLevel.Warning, "{RequestId}: provider {Provider} failed ({Code}); trying the next deployment")]
        public static partial void FallingBack(ILogger logger, string requestId, string provider, string? code);
    }
}
