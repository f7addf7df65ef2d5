using System.Net.ServerSentEvents;
using Gateway.Translators.Contract;
using Gateway.Translators.Translation;
using Gateway.Configuration;

namespace Gateway.Streaming;

/// <summary>How reading an upstream stream ended.</summary>
internal enum StreamEnd
{
    /// <summary><c>[DONE]</c> arrived, or the stream closed after every choice had finished.</summary>
    Completed,

    /// <summary>The connection closed or broke before the answer was complete.</summary>
    Truncated,

    /// <summary>The provider sent an error event.</summary>
    UpstreamError,

    /// <summary>An event could not be read.</summary>
    Malformed,

    /// <summary>The provider went silent for longer than the idle timeout.</summary>
    IdleTimeout,

    /// <summary>The stream ran longer than its total limit.</summary>
    TooLong,

    /// <summary>The answer grew past the size the gateway accepts (collected answers).</summary>
    TooLarge,

    /// <summary>The client went away; the upstream read was cancelled with it.</summary>
    ClientGone,
}

/// <summary>
/// Reads an upstream SSE body with the BCL <see cref="SseParser"/>, translating each event's data
/// in place (no intermediate copy), and hands each chunk to a sink as soon as it is read. The sink sends on what it was
/// given before every read from the provider, so the events of one read leave together and nothing waits on the provider.
/// </summary>
internal static class StreamPump
{
    /// <param name="limits">
    /// The idle limit counts only the provider's silence: any bytes (comments included) reset it, and it is paused
    /// while a slow client is being written to, so a slow reader is never reported as a provider timeout. The total
    /// limit bounds the whole stream, however lively.
    /// </param>
    /// <param name="clock">Runs both limits (the system clock in production; a test's own clock moves them when it says).</param>
    public static async Task<(StreamEnd End, string? Message)> RunAsync(Stream upstream, IChatProvider translator, IChunkSink sink,
        StreamLimits limits, TimeProvider clock, CancellationToken clientAborted)
    {
        using var idle = new CancellationTokenSource(limits.Idle, clock);
        using var total = new CancellationTokenSource(limits.Total, clock);
        using var reading = CancellationTokenSource.CreateLinkedTokenSource(clientAborted, idle.Token, total.Token);
        var live = new LivenessStream(upstream, () => idle.CancelAfter(limits.Idle), () => FlushBeforeReadAsync(sink, idle, limits, clientAborted));
        var sawFinish = false;
        var endMarker = translator.EndOfSequenceMarker is { } marker ? new EndOfSequence(marker) : null;
        try
        {
            await foreach (var item in SseParser.Create(live, (_, data) => translator.ReadStreamEvent(data)).EnumerateAsync(reading.Token))
            {
                var e = item.Data;
                switch (e.Kind)
                {
                    case StreamEventKind.Done:
                        await FlushAsync(endMarker, sink, clientAborted);
                        return (StreamEnd.Completed, null);
                    case StreamEventKind.Error:
                        return (StreamEnd.UpstreamError, e.ErrorMessage);
                    case StreamEventKind.Malformed:
                        return (StreamEnd.Malformed, null);
                }

                sawFinish |= e.Chunk!.Choices?.Exists(c => c.FinishReason is not null) == true;
                if (endMarker is null)
                {
                    await WriteAsync(sink, e.Chunk, idle, limits, clientAborted);
                }
                else
                {
                    foreach (var chunk in endMarker.Push(e.Chunk))
                    {
                        await WriteAsync(sink, chunk, idle, limits, clientAborted);
                    }
                }
            }

            // Some providers close without [DONE]; after a finish reason the answer is whole.
            await FlushAsync(endMarker, sink, clientAborted);
            return (sawFinish ? StreamEnd.Completed : StreamEnd.Truncated, null);
        }
        catch (OperationCanceledException) when (clientAborted.IsCancellationRequested || !(idle.IsCancellationRequested || total.IsCancellationRequested))
        {
            // Either the request was aborted, or a write found the client's connection closed.
            return (StreamEnd.ClientGone, null);
        }
        catch (OperationCanceledException)
        {
            return (total.IsCancellationRequested ? StreamEnd.TooLong : StreamEnd.IdleTimeout, null);
        }
        catch (AnswerTooLargeException)
        {
            return (StreamEnd.TooLarge, null);
        }
        catch (Exception ex) when (ex is IOException or HttpRequestException)
        {
            return (StreamEnd.Truncated, null);
        }
    }

    /// <summary>Hands a chunk to the sink; should the sink make the pump wait, the idle limit is paused meanwhile.</summary>
    private static ValueTask WriteAsync(IChunkSink sink, ChatCompletionChunk chunk, CancellationTokenSource idle, StreamLimits limits,
        CancellationToken clientAborted)
    {
        var write = sink.WriteChunkAsync(chunk, clientAborted);
        // The usual case (the client writer holds the bytes until the next flush): no timer to touch per chunk.
        return write.IsCompletedSuccessfully ? ValueTask.CompletedTask : IdlePausedAsync(write, idle, limits);
    }

    /// <summary>Sends on the events already read, before the parser reads (and maybe waits) again.</summary>
    private static ValueTask FlushBeforeReadAsync(IChunkSink sink, CancellationTokenSource idle, StreamLimits limits, CancellationToken clientAborted) =>
        sink.HasUnflushed ? IdlePausedAsync(sink.FlushAsync(clientAborted), idle, limits) : ValueTask.CompletedTask;

    /// <summary>Waits for the client with the idle limit paused: a slow client is not a silent provider.</summary>
    private static async ValueTask IdlePausedAsync(ValueTask clientWork, CancellationTokenSource idle, StreamLimits limits)
    {
        idle.CancelAfter(Timeout.InfiniteTimeSpan);
        await clientWork;
        idle.CancelAfter(limits.Idle);
    }

    private static async ValueTask FlushAsync(EndOfSequence? endMarker, IChunkSink sink, CancellationToken clientAborted)
    {
        foreach (var held in endMarker?.Flush() ?? [])
        {
            await sink.WriteChunkAsync(held, clientAborted);
        }
    }
}

/// <summary>A collected answer outgrew what the gateway accepts from a provider.</summary>
internal sealed class AnswerTooLargeException() : Exception("The provider's answer is larger than the gateway accepts.");
