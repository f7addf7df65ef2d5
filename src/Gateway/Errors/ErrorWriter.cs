using System.Buffers;
using System.Globalization;
using System.Text.Json;

namespace Gateway.Errors;

/// <summary>The one writer of OpenAI error bodies, as a JSON answer or as a stream event.</summary>
internal static class ErrorWriter
{
    public static async Task WriteAsync(HttpContext context, GatewayError error)
    {
        var response = context.Response;
        if (response.HasStarted)
        {
            return;
        }

        response.Clear();
        response.StatusCode = error.Status;
        response.ContentType = "application/json";
        if (error.RetryAfter is { } delay)
        {
            // Whole seconds for every client, milliseconds for the SDKs that read retry-after-ms.
            var ms = Math.Max(0, (long)Math.Ceiling(delay.TotalMilliseconds));
            response.Headers.RetryAfter = ((ms + 999) / 1000).ToString(CultureInfo.InvariantCulture);
            response.Headers["retry-after-ms"] = ms.ToString(CultureInfo.InvariantCulture);
        }

        var buffer = new ArrayBufferWriter<byte>(256);
        Write(buffer, error);
        response.ContentLength = buffer.WrittenCount;
        try
        {
            await response.Body.WriteAsync(buffer.WrittenMemory, context.RequestAborted);
        }
        catch (OperationCanceledException)
        {
            // The client left; nothing more to tell it.
        }
    }

    /// <summary>An error as the last event of a stream that has already begun (no <c>[DONE]</c> follows).</summary>
    public static async Task WriteEventAsync(HttpResponse response, GatewayError error, CancellationToken cancellationToken)
    {
        var output = response.BodyWriter;
        output.Write("data: "u8);
        Write(output, error);
        output.Write("\n\n"u8);
        try
        {
            await output.FlushAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            // The client left; nothing more to tell it.
        }
    }

    public static void Write(IBufferWriter<byte> output, GatewayError error)
    {
        using var w = new Utf8JsonWriter(output, Translators.Contract.OpenAiJson.WriterOptions);
        w.WriteStartObject();
        w.WriteStartObject("error"u8);
        w.WriteString("message"u8, error.Message);
        w.WriteString("type"u8, error.Type);
        WriteNullable(w, "param"u8, error.Param);
        WriteNullable(w, "code"u8, error.Code);
        w.WriteEndObject();
        w.WriteEndObject();
    }

    private static void WriteNullable(Utf8JsonWriter w, ReadOnlySpan<byte> name, string? value)
    {
        if (value is null)
        {
            w.WriteNull(name);
        }
        else
        {
            w.WriteString(name, value);
        }
    }
}
