using System.Text.Json;
using System.Text.Json.Serialization;

namespace Gateway.Translators.Contract;

/// <summary>
/// One <c>chat.completion.chunk</c> event of an OpenAI-shaped upstream stream. The provider's
/// <c>id</c>, <c>created</c> and <c>model</c> are not read: the gateway writes its own in every
/// chunk, and skipping them saves allocations on every event.
/// </summary>
public sealed class ChatCompletionChunk
{
    public List<ChunkChoice>? Choices { get; set; }
    public Usage? Usage { get; set; }
    public string? SystemFingerprint { get; set; }

    /// <summary>Some upstreams report a failure inside the stream as <c>{"error":{...}}</c>.</summary>
    public JsonElement? Error { get; set; }
}

public sealed class ChunkChoice
{
    public int Index { get; set; }
    public ChunkDelta? Delta { get; set; }
    public JsonElement? Logprobs { get; set; }
    public string? FinishReason { get; set; }
}

public sealed class ChunkDelta
{
    public string? Role { get; set; }
    public string? Content { get; set; }
    public string? Refusal { get; set; }
    public JsonElement? ToolCalls { get; set; }

    [JsonExtensionData]
    public Dictionary<string, JsonElement>? ExtensionData { get; set; }
}
