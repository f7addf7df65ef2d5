using System.Net.Http.Headers;
using Gateway.Buffers;
using Gateway.Configuration;
using Gateway.Errors;
using Gateway.Streaming;
using Gateway.Translators.Contract;
using Gateway.Translators.Translation;
using Yarp.ReverseProxy.Forwarder;

namespace Gateway.Forwarding;

/// <summary>
/// One attempt at one deployment, plugged into YARP's forwarder as its transformer: the request
/// hook points the call at the provider with the translated body and the provider key; the
/// response hook translates the answer (JSON or SSE) instead of copying it, and records how the
/// attempt ended. Nothing is written to the client until there is something good to write, so a
/// failure before that can still fall back to the next deployment.
/// </summary>
internal sealed partial class UpstreamAttempt(
    ChatExchange exchange,
    Deployment deployment,
    IChatProvider translator,
    string apiKey,
    int bodyLength,
    bool upstreamStream,
    ProviderAccounts accounts,
    ILogger logger) : HttpTransformer
{
    private static readonly MediaTypeHeaderValue Json = new("application/json");
    private static readonly MediaTypeWithQualityHeaderValue AcceptJson = new("application/json");
    private static readonly MediaTypeWithQualityHeaderValue AcceptSse = new("text/event-stream");

    private readonly ProviderRuntime _provider = deployment.Provider;
    private readonly IChatProvider _translator = translator;

    public AttemptResult? Result { get; private set; }

    public override ValueTask TransformRequestAsync(HttpContext httpContext, HttpRequestMessage proxyRequest, string destinationPrefix,
        CancellationToken cancellationToken)
    {
        // The client's headers are deliberately not copied: its Authorization must never reach a provider.
        proxyRequest.Method = HttpMethod.Post;
        proxyRequest.RequestUri = new Uri(destinationPrefix + _translator.RequestPath(deployment.Target), UriKind.Absolute);
        var (name, value) = _translator.AuthHeader(apiKey);
        proxyRequest.Headers.TryAddWithoutValidation(name, value);
        proxyRequest.Headers.Accept.Add(upstreamStream ? AcceptSse : AcceptJson);
        proxyRequest.Headers.TryAddWithoutValidation("x-request-id", exchange.RequestId);
        if (proxyRequest.Content is { } content)
        {
            content.Headers.ContentType = Json;
            content.Headers.ContentLength = bodyLength;
        }

        return ValueTask.CompletedTask;
    }

    public override async ValueTask<bool> TransformResponseAsync(HttpContext httpContext, HttpResponseMessage? proxyResponse,
        CancellationToken cancellationToken)
    {
        if (proxyResponse is null)
        {
            return false;
        }

        // YARP's token also carries its activity timeout, which is meant for the wait on response
        // headers; reading the body runs under our own timeouts and the client's abort instead.
        var clientAborted = httpContext.RequestAborted;
        accounts.Observe(_provider, _translator.RemainingCredits(UpstreamResponses.HeaderLookup(proxyResponse)));
        try
        {
            var status = (int)proxyResponse.StatusCode;
            Result = status is >= 200 and < 300
                ? await RelayAsync(httpContext.Response, proxyResponse, clientAborted)
                : await ReadFailureAsync(proxyResponse, status, clientAborted);
        }
        catch (OperationCanceledException) when (clientAborted.IsCancellationRequested)
        {
            Result = AttemptResult.Gone;
        }
        catch (Exception ex) when (!httpContext.Response.HasStarted)
        {
            // Unexpected: report it as the provider's fault without leaving anything half-written.
            Log.RelayFailed(logger, ex, exchange.RequestId, _provider.Name);
            Result = AttemptResult.Before(GatewayError.UpstreamInvalidResponse(), retryable: true);
        }
        catch (Exception ex)
        {
            Log.RelayFailed(logger, ex, exchange.RequestId, _provider.Name);
            Result = new AttemptResult(AttemptOutcome.FailedDuringResponse, GatewayError.Internal());
        }

        // The body has been translated (or the failure recorded); YARP must not copy it.
        return false;
    }

    private async Task<AttemptResult> RelayAsync(HttpResponse response, HttpResponseMessage upstream, CancellationToken clientAborted)
    {
        var relay = new ResponseRelay(exchange, _provider.Name, _translator, _provider.StreamLimits, Redact, logger);
        AttemptResult result;
        if (UpstreamResponses.IsEventStream(upstream))
        {
            await using var body = await upstream.Content.ReadAsStreamAsync(clientAborted);
            result = exchange.Request.IsStreaming
                ? await relay.SseToSseAsync(response, body, clientAborted)
                : await relay.SseToJsonAsync(response, body, clientAborted);
        }
        else
        {
            var completion = await ReadCompletionAsync(upstream, clientAborted);
            // A whole answer that outlasts the response timeout is as long as the client asked for: not counted against the deployment.
            result = completion.Error is { } error
                ? AttemptResult.Before(error, retryable: true) with { ShapedByRequest = error.Code == GatewayError.UpstreamTimeoutCode }
                : await relay.CompletionAsync(response, completion.Value!, clientAborted);
        }

        exchange.AddProviderCost(_translator.ReportedCostMicros(exchange.ReportedUsage, UpstreamResponses.HeaderLookup(upstream)));
        return result;
    }

    /// <summary>Reads a whole completion under the provider's response timeout.</summary>
    private async Task<(ChatCompletion? Value, GatewayError? Error)> ReadCompletionAsync(HttpResponseMessage upstream,
        CancellationToken clientAborted)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(clientAborted);
        timeout.CancelAfter(_provider.ResponseTimeout);
        try
        {
            using var body = await UpstreamResponses.ReadAsync(upstream.Content, UpstreamResponses.MaxCompletionBodyBytes, timeout.Token);
            if (body is not null && _translator.TryReadCompletion(body.WrittenSpan, out var completion))
            {
                return (completion, null);
            }

            Log.UnreadableAnswer(logger, exchange.RequestId, _provider.Name);
            return (null, GatewayError.UpstreamInvalidResponse());
        }
        catch (OperationCanceledException) when (!clientAborted.IsCancellationRequested)
        {
            return (null, GatewayError.UpstreamTimeout());
        }
        catch (Exception ex) when (ex is IOException or HttpRequestException)
        {
            return (null, GatewayError.StreamInterrupted());
        }
    }

    private async Task<AttemptResult> ReadFailureAsync(HttpResponseMessage upstream, int status, CancellationToken clientAborted)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(clientAborted);
        timeout.CancelAfter(_provider.ResponseTimeout);
        PooledBufferWriter? buffer = null;
        try
        {
            buffer = await UpstreamResponses.ReadAsync(upstream.Content, UpstreamResponses.MaxErrorBodyBytes, timeout.Token);
        }
        catch (Exception ex) when (ex is IOException or HttpRequestException || (ex is OperationCanceledException && !clientAborted.IsCancellationRequested))
        {
            // The status alone classifies the failure; the message is a nicety.
        }

        UpstreamError error;
        using (buffer)
        {
            error = _translator.ReadError(status, buffer is null ? default : buffer.WrittenSpan, UpstreamResponses.HeaderLookup(upstream),
                exchange.Clock.GetUtcNow());
        }

        error = error with { Message = Redact(error.Message) };
        Log.UpstreamRejected(logger, exchange.RequestId, _provider.Name, status, error.Class, error.Message);
        return AttemptResult.FromUpstream(error);
    }

    // Belt and braces: should a provider ever echo our key in an error, it stops here.
    private string Redact(string message) =>
        apiKey.Length >= 8 ? message.Replace(apiKey, "[redacted]", StringComparison.Ordinal) : message;

    private static partial class Log
    {
        [LoggerMessage(10, LogLevel.Warning, "{RequestId}: provider {Provider} answered {Status} ({Class}): {Message}")]
        public static partial void UpstreamRejected(ILogger logger, string requestId, string provider, int status, UpstreamErrorClass @class, string message);

        [LoggerMessage(12, LogLevel.Warning, "{RequestId}: provider {Provider} sent an answer that is not a readable completion")]
        public static partial void UnreadableAnswer(ILogger logger, string requestId, string provider);

        [LoggerMessage(13, LogLevel.Error, "{RequestId}: relaying the answer of provider {Provider} failed")]
        public static partial void RelayFailed(ILogger logger, Exception exception, string requestId, string provider);
    }
}
