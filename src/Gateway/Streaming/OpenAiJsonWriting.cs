using System.Text.Json;
using Gateway.Translators.Contract;

namespace Gateway.Streaming;

/// <summary>Small helpers shared by the completion and chunk writers.</summary>
internal static class OpenAiJsonWriting
{
    public static JsonWriterOptions Options => OpenAiJson.WriterOptions;

    /// <summary>
    /// OpenAI's usage object, plus two additions SDKs ignore: <c>cost</c> (USD, from the price table)
    /// and <c>estimated: true</c> when the provider reported no counts.
    /// </summary>
    public static void WriteUsage(Utf8JsonWriter w, Requests.ProducedAnswer answer)
    {
        var (prompt, completion, estimated) = answer.FinalUsage();
        w.WriteStartObject("usage"u8);
        w.WriteNumber("prompt_tokens"u8, prompt);
        w.WriteNumber("completion_tokens"u8, completion);
        w.WriteNumber("total_tokens"u8, prompt + completion);
        w.WriteNumber("cost"u8, answer.CostMicros() / 1_000_000m);
        if (estimated)
        {
            w.WriteBoolean("estimated"u8, true);
        }

        w.WriteEndObject();
    }

    public static void WriteStringOrNull(Utf8JsonWriter w, ReadOnlySpan<byte> name, string? value)
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

    public static void WriteElementOrNull(Utf8JsonWriter w, ReadOnlySpan<byte> name, JsonElement? value)
    {
        w.WritePropertyName(name);
        if (value is { ValueKind: not JsonValueKind.Undefined } v)
        {
            v.WriteTo(w);
        }
        else
        {
            w.WriteNullValue();
        }
    }

    public static void WriteExtensions(Utf8JsonWriter w, Dictionary<string, JsonElement>? extra)
    {
        if (extra is null)
        {
            return;
        }

        foreach (var (name, value) in extra)
        {
            w.WritePropertyName(name);
            value.WriteTo(w);
        }
    }
}
