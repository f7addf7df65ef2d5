using Gateway.Buffers;

namespace Gateway.Forwarding;

/// <summary>Reads upstream bodies into memory with a size cap.</summary>
internal static class UpstreamResponses
{
    /// <summary>Error bodies are read only this far: enough for any message, bounded against a hostile upstream.</summary>
    public const int MaxErrorBodyBytes = 64 * 1024;

    /// <summary>Largest whole (non-streamed) completion accepted from a provider.</summary>
    public const int MaxCompletionBodyBytes = Streaming.StreamCollector.MaxAnswerBytes;

    /// <summary>
    /// Reads up to <paramref name="limit"/> bytes into a pooled buffer the caller disposes;
    /// returns null (and gives the buffer back) when the body is larger.
    /// </summary>
    public static async Task<PooledBufferWriter?> ReadAsync(HttpContent content, int limit, CancellationToken cancellationToken)
    {
        var length = content.Headers.ContentLength;
        var buffer = new PooledBufferWriter(length is > 0 and < 1024 * 1024 ? (int)length.Value + 1 : 8 * 1024);
        try
        {
            await using var stream = await content.ReadAsStreamAsync(cancellationToken);
            while (true)
            {
                var read = await stream.ReadAsync(buffer.GetMemory(4 * 1024), cancellationToken);
                if (read == 0)
                {
                    return buffer;
                }

                buffer.Advance(read);
                if (buffer.WrittenCount > limit)
                {
                    buffer.Dispose();
                    return null;
                }
            }
        }
        catch
        {
            buffer.Dispose();
            throw;
        }
    }

    public static Func<string, string?> HeaderLookup(HttpResponseMessage response) => name =>
        response.Headers.TryGetValues(name, out var values) || response.Content.Headers.TryGetValues(name, out values)
            ? values.FirstOrDefault()
            : null;

    public static bool IsEventStream(HttpResponseMessage response) =>
        string.Equals(response.Content.Headers.ContentType?.MediaType, "text/event-stream", StringComparison.OrdinalIgnoreCase);
}
