using System.Globalization;
using System.Text.Json;
using Gateway.Configuration;
using Gateway.Errors;
using Gateway.Translators.Contract;

namespace Gateway.Keys;

/// <summary>What the key and team admin endpoints share: reading a JSON body, writing answers, and the errors they give.</summary>
internal static class AdminJson
{
    public static async Task<JsonElement?> ReadAsync(HttpContext context)
    {
        try
        {
            using var document = await JsonDocument.ParseAsync(context.Request.Body, default, context.RequestAborted);
            return document.RootElement.Clone();
        }
        catch (JsonException)
        {
            return null;
        }
    }

    public static async Task WriteAsync(HttpContext context, int status, Action<Utf8JsonWriter> write)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        await using var w = new Utf8JsonWriter(context.Response.BodyWriter, OpenAiJson.WriterOptions);
        write(w);
        await w.FlushAsync(context.RequestAborted);
    }

    /// <summary>The <c>limits</c> object (rates, per model) and the <c>budget</c> of stored limits.</summary>
    public static void WriteLimits(Utf8JsonWriter w, KeyLimitOptions? limits)
    {
        w.WriteStartObject("limits"u8);
        WriteRate(w, limits);
        w.WriteStartObject("models"u8);
        foreach (var (model, perModel) in limits?.Models ?? [])
        {
            w.WriteStartObject(model);
            WriteRate(w, perModel);
            w.WriteEndObject();
        }

        w.WriteEndObject();
        w.WriteEndObject();
        if (limits?.BudgetUsd is { } usd)
        {
            w.WriteStartObject("budget"u8);
            w.WriteNumber("usd"u8, usd);
            w.WriteString("period"u8, limits.BudgetPeriod ?? "month");
            w.WriteEndObject();
        }
        else
        {
            w.WriteNull("budget"u8);
        }
    }

    public static void WriteMetadata(Utf8JsonWriter w, Dictionary<string, string> metadata)
    {
        w.WriteStartObject("metadata"u8);
        foreach (var (k, v) in metadata)
        {
            w.WriteString(k, v);
        }

        w.WriteEndObject();
    }

    public static void WriteTime(Utf8JsonWriter w, ReadOnlySpan<byte> name, DateTimeOffset? at)
    {
        if (at is { } t)
        {
            w.WriteString(name, t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture));
        }
        else
        {
            w.WriteNull(name);
        }
    }

    private static void WriteRate(Utf8JsonWriter w, ModelLimitOptions? limits)
    {
        if (limits?.RequestsPerMinute is { } rpm)
        {
            w.WriteNumber("requests_per_minute"u8, rpm);
        }

        if (limits?.TokensPerMinute is { } tpm)
        {
            w.WriteNumber("tokens_per_minute"u8, tpm);
        }

        if (limits?.ConcurrentRequests is { } concurrent)
        {
            w.WriteNumber("concurrent_requests"u8, concurrent);
        }
    }

    public static GatewayError BadRequest(string message) => new(400, "invalid_request_error", message, Code: "invalid_key_request");

    public static GatewayError Conflict(string message) => new(409, "invalid_request_error", message, Code: "key_conflict");
}
