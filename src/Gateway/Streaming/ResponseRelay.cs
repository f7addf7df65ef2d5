using Gateway.Errors;
using Gateway.Requests;
using Gateway.Translators.Contract;
using Gateway.Translators.Translation;
using Gateway.Configuration;

namespace Gateway.Streaming;

/// <summary>
/// Turns a provider's successful answer into the client's: an SSE stream relayed event by event,
/// a stream collected into one completion, or a whole completion answered as JSON or as a
/// synthesized stream. Decides nothing about transport; <see cref="UpstreamAttempt"/> does that.
/// </summary>
/// <param name="providerKey">Scrubbed from provider messages before they reach the client or the log; null when there is none.</param>
/// <param name="answer">What this attempt produces; the writers fill it in.</param>
internal sealed partial class ResponseRelay(ChatExchange exchange, ProducedAnswer answer, string providerName, IProvider translator,
    StreamLimits streamLimits, string? providerKey, ILogger logger)
{
    public async Task<AttemptResult> SseToSseAsync(HttpResponse response, Stream body, CancellationToken stop)
    {
        using var writer = new ClientStreamWriter(response, exchange, answer, translator.MapFinishReason);
        var (end, message) = await StreamPump.RunAsync(body, (IChatProvider)translator, writer, streamLimits, exchange.Clock, stop);
        if (end == StreamEnd.Completed)
        {
            await writer.CompleteAsync(stop);
            return AttemptResult.Success;
        }

        if (end == StreamEnd.ClientGone)
        {
            return AttemptResult.Gone;
        }

        var error = StreamError(end, message);
        Log.StreamEnded(logger, exchange.RequestId, providerName, end, SecretRedaction.Scrub(message ?? "-", providerKey));
        if (!writer.ClientResponseStarted)
        {
            return AttemptResult.Before(error, retryable: true) with { ShapedByRequest = end == StreamEnd.TooLong };
        }

        await writer.FailAsync(error, stop);
        return AttemptResult.During(error) with { ShapedByRequest = end == StreamEnd.TooLong };
    }

    public async Task<AttemptResult> SseToJsonAsync(HttpResponse response, Stream body, CancellationToken stop)
    {
        var collector = new StreamCollector();
        var (end, message) = await StreamPump.RunAsync(body, (IChatProvider)translator, collector, streamLimits, exchange.Clock, stop);
        switch (end)
        {
            case StreamEnd.Completed:
                await CompletionWriter.WriteAsync(response, exchange, answer, collector.ToCompletion(), translator.MapFinishReason, stop);
                return AttemptResult.Success;
            case StreamEnd.ClientGone:
                return AttemptResult.Gone;
            default:
                Log.StreamEnded(logger, exchange.RequestId, providerName, end, SecretRedaction.Scrub(message ?? "-", providerKey));
                // A collected stream that ran past its total limit was as long as the client asked for.
                return AttemptResult.Before(StreamError(end, message), retryable: true) with { ShapedByRequest = end == StreamEnd.TooLong };
        }
    }

    /// <param name="startedWriter">The writer of a stream that has already begun (keep-alives), if any.</param>
    public async Task<AttemptResult> CompletionAsync(HttpResponse response, ChatCompletion completion, CancellationToken stop,
        ClientStreamWriter? startedWriter = null)
    {
        if (!exchange.Request.IsStreaming)
        {
            await CompletionWriter.WriteAsync(response, exchange, answer, completion, translator.MapFinishReason, stop);
            return AttemptResult.Success;
        }

        using var ownWriter = startedWriter is null ? new ClientStreamWriter(response, exchange, answer, translator.MapFinishReason) : null;
        var writer = startedWriter ?? ownWriter!;
        foreach (var chunk in StreamSynthesizer.ToChunks(completion))
        {
            await writer.WriteChunkAsync(chunk, stop);
        }

        await writer.CompleteAsync(stop);
        return AttemptResult.Success;
    }

    private GatewayError StreamError(StreamEnd end, string? message) => end switch
    {
        StreamEnd.IdleTimeout or StreamEnd.TooLong => GatewayError.UpstreamTimeout(),
        StreamEnd.TooLarge => GatewayError.UpstreamInvalidResponse(),
        StreamEnd.UpstreamError => GatewayError.StreamFailed(),
        StreamEnd.Malformed => GatewayError.UpstreamInvalidResponse(),
        _ => GatewayError.StreamInterrupted(),
    };

    private static partial class Log
    {
        [LoggerMessage(11, LogLevel.Warning, "{RequestId}: stream from provider {Provider} ended badly: {End} ({Message})")]
        public static partial void StreamEnded(ILogger logger, string requestId, string provider, StreamEnd end, string message);
    }
}
