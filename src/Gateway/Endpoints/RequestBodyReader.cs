using System.Buffers;
using Microsoft.AspNetCore.Http.Features;

namespace Gateway.Endpoints;

/// <summary>Reads a request body whole, enforcing the configured size limit (413 beyond it).</summary>
internal static class RequestBodyReader
{
    /// <summary>Returns the body in a rented buffer, or null when it exceeds <paramref name="limit"/>.</summary>
    public static async Task<(byte[]? Buffer, int Length)> ReadAsync(HttpContext context, long limit)
    {
        var request = context.Request;
        if (request.ContentLength > limit)
        {
            return (null, 0);
        }

        // Let Kestrel stop a chunked body that grows past the limit instead of buffering it.
        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } sizeFeature)
        {
            sizeFeature.MaxRequestBodySize = limit;
        }

        var reader = request.BodyReader;
        try
        {
            while (true)
            {
                var read = await reader.ReadAsync(context.RequestAborted);
                if (read.Buffer.Length > limit)
                {
                    reader.AdvanceTo(read.Buffer.Start, read.Buffer.End);
                    return (null, 0);
                }

                if (read.IsCompleted)
                {
                    var length = (int)read.Buffer.Length;
                    var buffer = ArrayPool<byte>.Shared.Rent(Math.Max(length, 1));
                    read.Buffer.CopyTo(buffer);
                    reader.AdvanceTo(read.Buffer.End);
                    return (buffer, length);
                }

                reader.AdvanceTo(read.Buffer.Start, read.Buffer.End);
            }
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return (null, 0);
        }
    }
}
