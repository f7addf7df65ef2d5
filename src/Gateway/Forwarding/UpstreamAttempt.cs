using System.Net;
using System.Net.Http.Headers;
using Gateway.Buffers;
using Gateway.Configuration;
using Gateway.Errors;
using Gateway.Requests;
using Gateway.Streaming;
using Gateway.Translators.Contract;
using Gateway.Translators.Translation;

namespace Gateway.Forwarding;

/// <summary>
/// One attempt at one deployment over HTTP: the provider's request (translated body, provider key, nothing of the
/// client's headers) and the reading of its answer, translated (JSON or SSE) into the client's. Nothing is written to
/// the client until there is something good to write, so a failure before that can still fall back to the next
/// deployment.
/// </summary>
internal sealed partial class UpstreamAttempt(
    ChatExchange exchange,
    ProducedAnswer answer,
    Deployment deployment,
    IChatProvider translator,
    string apiKey,
    bool upstreamStream,
    ProviderAccounts accounts,
    ILogger logger)
{
    private static readonly MediaTypeHeaderValue Json = new("application/json");
    private static readonly MediaTypeWithQualityHeaderValue AcceptJson = new("application/json");
    private static readonly MediaTypeWithQualityHeaderValue AcceptSse = new("text/event-stream");

    private readonly ProviderRuntime _provider = deployment.Provider;
    private readonly IChatProvider _translator = translator;

    /// <summary>The provider's request. The client's headers are deliberately not copied: its Authorization must never reach a provider.</summary>
    public HttpRequestMessage CreateRequest(ReadOnlyMemory<byte> body)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, deployment.ChatUri)
        {
            // HTTP/2 where the provider offers it (TLS), else HTTP/1.1.
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionOrLower,
            Content = new ReadOnlyMemoryContent(body),
        };
        var (name, value) = _translator.AuthHeader(apiKey);
        request.Headers.TryAddWithoutValidation(name, value);
        request.Headers.Accept.Add(upstreamStream ? AcceptSse : AcceptJson);
        request.Headers.TryAddWithoutValidation("x-request-id", exchange.RequestId);
        request.Content.Headers.ContentType = Json;
        return request;
    }

    /// <summary>Reads the provider's answer (its headers have arrived) and relays it, or classifies its failure.</summary>
    public async Task<AttemptResult> ReadAsync(HttpResponse response, HttpResponseMessage upstream, CancellationToken stop)
    {
        accounts.Observe(_provider, _translator.RemainingCredits(UpstreamResponses.HeaderLookup(upstream)));
        try
        {
            var status = (int)upstream.StatusCode;
            return status is >= 200 and < 300
                ? await RelayAsync(response, upstream, stop)
                : await ReadFailureAsync(upstream, status, stop);
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            return AttemptResult.Gone;
        }
        catch (Exception ex) when (!response.HasStarted)
        {
            // Unexpected: report it as the provider's fault without leaving anything half-written.
            Log.RelayFailed(logger, ex, exchange.RequestId, _provider.Name);
            return AttemptResult.Before(GatewayError.UpstreamInvalidResponse(), retryable: true);
        }
        catch (Exception ex)
        {
            Log.RelayFailed(logger, ex, exchange.RequestId, _provider.Name);
            return new AttemptResult(AttemptOutcome.FailedDuringResponse, GatewayError.Internal());
        }
    }

    private async Task<AttemptResult> RelayAsync(HttpResponse response, HttpResponseMessage upstream, CancellationToken stop)
    {
        var relay = new ResponseRelay(exchange, answer, _provider.Name, _translator, _provider.StreamLimits, apiKey, logger);
        AttemptResult result;
        if (UpstreamResponses.IsEventStream(upstream))
        {
            await using var body = await upstream.Content.ReadAsStreamAsync(stop);
            result = exchange.Request.IsStreaming
                ? await relay.SseToSseAsync(response, body, stop)
                : await relay.SseToJsonAsync(response, body, stop);
        }
        else
        {
            var completion = await ReadCompletionAsync(upstream, stop);
            // A whole answer that outlasts the response timeout is as long as the client asked for: not counted against the deployment.
            result = completion.Error is { } error
                ? AttemptResult.Before(error, retryable: true) with { ShapedByRequest = error.Code == GatewayError.UpstreamTimeoutCode }
                : await relay.CompletionAsync(response, completion.Value!, stop);
        }

        return result.Charged(_translator.ReportedCostMicros(answer.ReportedUsage, UpstreamResponses.HeaderLookup(upstream)));
    }

    /// <summary>Reads a whole completion under the provider's response timeout.</summary>
    private async Task<(ChatCompletion? Value, GatewayError? Error)> ReadCompletionAsync(HttpResponseMessage upstream,
        CancellationToken stop)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stop);
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
        catch (OperationCanceledException) when (!stop.IsCancellationRequested)
        {
            return (null, GatewayError.UpstreamTimeout());
        }
        catch (Exception ex) when (ex is IOException or HttpRequestException)
        {
            return (null, GatewayError.StreamInterrupted());
        }
    }

    private async Task<AttemptResult> ReadFailureAsync(HttpResponseMessage upstream, int status, CancellationToken stop)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stop);
        timeout.CancelAfter(_provider.ResponseTimeout);
        PooledBufferWriter? buffer = null;
        try
        {
            buffer = await UpstreamResponses.ReadAsync(upstream.Content, UpstreamResponses.MaxErrorBodyBytes, timeout.Token);
        }
        catch (Exception ex) when (ex is IOException or HttpRequestException || (ex is OperationCanceledException && !stop.IsCancellationRequested))
        {
            // The status alone classifies the failure; the message is a nicety.
        }

        UpstreamError error;
        using (buffer)
        {
            error = _translator.ReadError(status, buffer is null ? default : buffer.WrittenSpan, UpstreamResponses.HeaderLookup(upstream),
                exchange.Clock.GetUtcNow());
        }

        error = error with { Message = SecretRedaction.Scrub(error.Message, apiKey) };
        Log.UpstreamRejected(logger, exchange.RequestId, _provider.Name, status, error.Class, error.Message);
        return AttemptResult.FromUpstream(error);
    }

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
