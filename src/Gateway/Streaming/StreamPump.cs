using System.Net.ServerSentEvents;
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
/// in place (no intermediate copy), and hands each chunk to a sink as soon as it is read.
/// </summary>
internal static class StreamPump
{
    /// <param name="limits">
    /// The idle limit counts only the provider's silence: any bytes (comments included) reset it, and it is paused
    /// while a slow client is being written to, so a slow reader is never reported as a provider timeout. The total
    /// limit bounds the whole stream, however lively.
    /// </param>
    public static async Task<(StreamEnd End, string? Message)> RunAsync(Stream upstream, IChatProvider translator, IChunkSink sink,
        StreamLimits limits, CancellationToken clientAborted)
    {
        using var idle = new CancellationTokenSource(limits.Idle);
        using var total = new CancellationTokenSource(limits.Total);
        using var reading = CancellationTokenSource.CreateLinkedTokenSource(clientAborted, idle.Token, total.Token);
        var live = new LivenessStream(upstream, () => idle.CancelAfter(limits.Idle));
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
                idle.CancelAfter(Timeout.InfiniteTimeSpan);
                if (endMarker is null)
                {
                    await sink.WriteChunkAsync(e.Chunk, clientAborted);
                }
                else
                {
                    foreach (var chunk in endMarker.Push(e.Chunk))
                    {
                        await sink.WriteChunkAsync(chunk, clientAborted);
                    }
                }

                idle.CancelAfter(limits.Idle);
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
