using System.Text.Json.Serialization;

namespace Gateway.Translators.Contract;

/// <summary>Source-generated serializer metadata for the OpenAI wire types (snake_case, nulls omitted).</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    NumberHandling = JsonNumberHandling.Strict)]
[JsonSerializable(typeof(ChatCompletionRequest))]
[JsonSerializable(typeof(ChatCompletion))]
[JsonSerializable(typeof(ContentPart))]
[JsonSerializable(typeof(MessageContent))]
public sealed partial class OpenAiJsonContext : JsonSerializerContext;

public static class OpenAiJson
{
    public static OpenAiJsonContext Context => OpenAiJsonContext.Default;

    /// <summary>
    /// How every body the gateway writes is encoded: non-ASCII text and characters such as
    /// <c>'</c> or <c>&lt;</c> stay as they are (bodies are JSON, never embedded in HTML), which keeps
    /// Unicode answers compact and byte-for-byte what the model produced.
    /// </summary>
    public static readonly System.Text.Json.JsonWriterOptions WriterOptions = new()
    {
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        SkipValidation = true,
    };
}
