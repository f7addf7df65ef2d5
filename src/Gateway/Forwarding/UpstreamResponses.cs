using System.Buffers;

namespace Gateway.Forwarding;

/// <summary>Reads upstream bodies into memory with a size cap.</summary>
internal static class UpstreamResponses
{
    /// <summary>Error bodies are read only this far: enough for any message, bounded against a hostile upstream.</summary>
    public const int MaxErrorBodyBytes = 64 * 1024;

    /// <summary>Largest whole (non-streamed) completion accepted from a provider.</summary>
    public const int MaxCompletionBodyBytes = 32 * 1024 * 1024;

    /// <summary>Reads up to <paramref name="limit"/> bytes; returns null when the body is larger.</summary>
    public static async Task<ArrayBufferWriter<byte>?> ReadAsync(HttpContent content, int limit, CancellationToken cancellationToken)
    {
        var length = content.Headers.ContentLength;
        var buffer = new ArrayBufferWriter<byte>(length is > 0 and < 1024 * 1024 ? (int)length.Value : 16 * 1024);
        await using var stream = await content.ReadAsStreamAsync(cancellationToken);
        while (true)
        {
            var memory = buffer.GetMemory(8 * 1024);
            var read = await stream.ReadAsync(memory, cancellationToken);
            if (read == 0)
            {
                return buffer;
            }

            buffer.Advance(read);
            if (buffer.WrittenCount > limit)
            {
                return null;
            }
        }
    }

    public static Func<string, string?> HeaderLookup(HttpResponseMessage response) => name =>
        response.Headers.TryGetValues(name, out var values) || response.Content.Headers.TryGetValues(name, out values)
            ? values.FirstOrDefault()
            : null;

    public static bool IsEventStream(HttpResponseMessage response) =>
        string.Equals(response.Content.Headers.ContentType?.MediaType, "text/event-stream", StringComparison.OrdinalIgnoreCase);
}
