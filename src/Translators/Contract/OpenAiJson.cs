using System.Text.Json.Serialization;

namespace Gateway.Translators.Contract;

/// <summary>Source-generated serializer metadata for the OpenAI wire types (snake_case, nulls omitted).</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    NumberHandling = JsonNumberHandling.Strict)]
[JsonSerializable(typeof(ChatCompletionRequest))]
[JsonSerializable(typeof(ChatCompletion))]
[JsonSerializable(typeof(ChatCompletionChunk))]
[JsonSerializable(typeof(ContentPart))]
[JsonSerializable(typeof(MessageContent))]
public sealed partial class OpenAiJsonContext : JsonSerializerContext;

public static class OpenAiJson
{
    public static OpenAiJsonContext Context => OpenAiJsonContext.Default;
}
