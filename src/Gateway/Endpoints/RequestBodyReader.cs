using System.Buffers;
using Gateway.Errors;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http.Features;

namespace Gateway.Endpoints;

/// <summary>What reading a request body gave: the body in a rented buffer, or why there is none.</summary>
internal readonly record struct RequestBody(byte[]? Buffer, int Length, GatewayError? Error)
{
    /// <summary>The client went away while sending: there is nobody left to answer.</summary>
    public bool ClientGone => Buffer is null && Error is null;

    public ReadOnlySpan<byte> Span => Buffer.AsSpan(0, Length);

    public void Return()
    {
        if (Buffer is not null)
        {
            ArrayPool<byte>.Shared.Return(Buffer);
        }
    }
}

/// <summary>
/// Reads a request body whole, enforcing the configured size limit (413 beyond it). Malformed framing
/// (a broken chunked encoding, a body shorter than its Content-Length, a client too slow to send) is the
/// client's fault: an OpenAI error with 400, 408 or 413, logged at Debug, never an exception.
/// </summary>
internal static partial class RequestBodyReader
{
    private static readonly GatewayError MalformedBody = new(400, "invalid_request_error",
        "The request body could not be read: its HTTP framing is malformed.", Code: "invalid_request_body");

    public static async Task<RequestBody> ReadAsync(HttpContext context, long limit, ILogger logger)
    {
        var request = context.Request;
        if (request.ContentLength > limit)
        {
            return new RequestBody(null, 0, GatewayError.BodyTooLarge(limit));
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
                    return new RequestBody(null, 0, GatewayError.BodyTooLarge(limit));
                }

                if (read.IsCompleted)
                {
                    var length = (int)read.Buffer.Length;
                    var buffer = ArrayPool<byte>.Shared.Rent(Math.Max(length, 1));
                    read.Buffer.CopyTo(buffer);
                    reader.AdvanceTo(read.Buffer.End);
                    return new RequestBody(buffer, length, null);
                }

                reader.AdvanceTo(read.Buffer.Start, read.Buffer.End);
            }
        }
        catch (BadHttpRequestException ex)
        {
            Log.BadBody(logger, ex.StatusCode, ex.Message);
            return new RequestBody(null, 0, ex.StatusCode switch
            {
                StatusCodes.Status413PayloadTooLarge => GatewayError.BodyTooLarge(limit),
                StatusCodes.Status408RequestTimeout => new GatewayError(408, "invalid_request_error",
                    "The request body did not arrive in time.", Code: "request_timeout"),
                _ => MalformedBody,
            });
        }
        catch (Exception ex) when (ex is OperationCanceledException or ConnectionResetException || context.RequestAborted.IsCancellationRequested)
        {
            return default;
        }
        catch (IOException ex)
        {
            // Kestrel reports some broken chunked framing (a chunk size that overflows) as an I/O error, not as a bad request.
            Log.BadBody(logger, 400, ex.Message);
            return new RequestBody(null, 0, MalformedBody);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(31, LogLevel.Debug, "Request body refused ({Status}): {Reason}")]
        public static partial void BadBody(ILogger logger, int status, string reason);
    }
}
