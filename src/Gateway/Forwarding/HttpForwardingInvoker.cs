using Gateway.Buffers;
using Gateway.Configuration;
using Gateway.Errors;
using Gateway.Requests;
using Gateway.Translators.Translation;

namespace Gateway.Forwarding;

/// <summary>
/// Providers that answer in the HTTP response (<see cref="IChatProvider"/>): the translated request goes to the provider
/// through its pooled <see cref="HttpMessageInvoker"/> (<see cref="ProviderClients"/>), and an <see cref="UpstreamAttempt"/>
/// reads the answer into the client's, returning how the attempt ended and what it produced.
/// </summary>
internal sealed partial class HttpForwardingInvoker(ProviderClients clients, ProviderAccounts accounts, ILogger<HttpForwardingInvoker> logger)
    : IDeploymentInvoker
{
    public bool CanServe(ProviderRuntime provider) => provider.Translator is IChatProvider;

    public async Task<AttemptResult> SendAsync(HttpContext context, ChatExchange exchange, Deployment deployment, IAnswerRecorder? recorder)
    {
        var provider = deployment.Provider;
        var translator = (IChatProvider)provider.Translator;
        var upstreamStream = translator.SupportsStreaming && (exchange.Request.IsStreaming || deployment.Target.StreamingOnly);
        byte[] payload;
        using (var body = new PooledBufferWriter())
        {
            if (translator.WriteRequest(exchange.Request, deployment.Target, upstreamStream, body) is { } rejection)
            {
                return AttemptResult.Reject(rejection);
            }

            // Copied out at its own size: the provider's connection keeps the request until the answer ends, so a stream
            // held the whole rented array (4 KB for a short prompt) for as long as it ran, a tenth of what an open stream
            // costs (docs/performance.md, tenth round).
            payload = body.WrittenSpan.ToArray();
        }

        DroppedParameters.Announce(context.Response, exchange, deployment);
        var answer = new ProducedAnswer(exchange, deployment, recorder);
        var attempt = new UpstreamAttempt(exchange, answer, deployment, translator, provider.ApiKey!, upstreamStream, accounts, logger);
        var stop = exchange.Stop.Token;
        using var request = attempt.CreateRequest(payload);
        HttpResponseMessage upstream;
        // The response timeout bounds the wait for the provider's headers; the body is read under the relay's own limits.
        using (var headersDue = CancellationTokenSource.CreateLinkedTokenSource(stop))
        {
            headersDue.CancelAfter(provider.ResponseTimeout);
            try
            {
                upstream = await clients.For(provider).SendAsync(request, headersDue.Token);
            }
            catch (Exception) when (stop.IsCancellationRequested)
            {
                return AttemptResult.Gone with { Answer = answer };
            }
            catch (Exception ex) when (ex is OperationCanceledException or HttpRequestException)
            {
                var timedOut = ex is OperationCanceledException;
                Log.TransportFailed(logger, timedOut ? null : ex, exchange.RequestId, provider.Name, timedOut ? "no answer within the response timeout" : ex.Message);
                // Without an upstream stream the response headers come only with the whole answer, whose length the client
                // chose: such a timeout is not counted against the deployment. A stream's headers come before any generation.
                return AttemptResult.Before(timedOut ? GatewayError.UpstreamTimeout() : GatewayError.UpstreamUnreachable(), retryable: true)
                    with { ShapedByRequest = timedOut && !upstreamStream, Answer = answer };
            }
        }

        using (upstream)
        {
            return await attempt.ReadAsync(context.Response, upstream, stop) is var result && result.Answer is null
                ? result with { Answer = answer }
                : result;
        }
    }

    private static partial class Log
    {
        [LoggerMessage(22, LogLevel.Warning, "{RequestId}: forwarding to provider {Provider} failed: {Error}")]
        public static partial void TransportFailed(ILogger logger, Exception? exception, string requestId, string provider, string error);
    }
}
