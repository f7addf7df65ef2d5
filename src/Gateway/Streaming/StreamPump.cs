using System.Net.ServerSentEvents;
using Gateway.Translators.Translation;

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

    /// <summary>The client went away; the upstream read was cancelled with it.</summary>
    ClientGone,
}

/// <summary>
/// Reads an upstream SSE body with the BCL <see cref="SseParser"/>, translating each event's data
/// in place (no intermediate copy), and hands each chunk to a sink as soon as it is read.
/// </summary>
internal static class StreamPump
{
    public static async Task<(StreamEnd End, string? Message)> RunAsync(Stream upstream, IChatProvider translator, IChunkSink sink,
        TimeSpan idleTimeout, CancellationToken clientAborted)
    {
        using var idle = CancellationTokenSource.CreateLinkedTokenSource(clientAborted);
        idle.CancelAfter(idleTimeout);
        var sawFinish = false;
        var endMarker = translator.EndOfSequenceMarker is { } marker ? new EndOfSequence(marker) : null;
        try
        {
            await foreach (var item in SseParser.Create(upstream, (_, data) => translator.ReadStreamEvent(data)).EnumerateAsync(idle.Token))
            {
                idle.CancelAfter(idleTimeout);
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
                    await sink.WriteChunkAsync(e.Chunk, clientAborted);
                    continue;
                }

                foreach (var chunk in endMarker.Push(e.Chunk))
                {
                    await sink.WriteChunkAsync(chunk, clientAborted);
                }
            }

            // Some providers close without [DONE]; after a finish reason the answer is whole.
            await FlushAsync(endMarker, sink, clientAborted);
            return (sawFinish ? StreamEnd.Completed : StreamEnd.Truncated, null);
        }
        catch (OperationCanceledException) when (clientAborted.IsCancellationRequested || !idle.IsCancellationRequested)
        {
            // Either the request was aborted, or a write found the client's connection closed.
            return (StreamEnd.ClientGone, null);
        }
        catch (OperationCanceledException)
        {
            return (StreamEnd.IdleTimeout, null);
        }
        catch (Exception ex) when (ex is IOException or HttpRequestException)
        {
            return (StreamEnd.Truncated, null);
        }
    }

    private static async ValueTask FlushAsync(EndOfSequence? endMarker, IChunkSink sink, CancellationToken clientAborted)
    {
        if (endMarker?.Flush() is { } held)
        {
            await sink.WriteChunkAsync(held, clientAborted);
        }
    }
}
