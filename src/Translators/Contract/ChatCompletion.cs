using System.Text.Json;
using System.Text.Json.Serialization;

namespace Gateway.Translators.Contract;

/// <summary>
/// A non-streaming completion as read from an OpenAI-shaped upstream. The gateway rewrites
/// <c>id</c>, <c>model</c> and the finish reasons before it reaches the client.
/// </summary>
public sealed class ChatCompletion
{
    public string? Id { get; set; }
    public long? Created { get; set; }
    public string? Model { get; set; }
    public List<CompletionChoice>? Choices { get; set; }
    public Usage? Usage { get; set; }
    public string? SystemFingerprint { get; set; }
}

public sealed class CompletionChoice
{
    public int Index { get; set; }
    public ResponseMessage? Message { get; set; }
    public JsonElement? Logprobs { get; set; }
    public string? FinishReason { get; set; }
}

public sealed class ResponseMessage
{
    public string? Role { get; set; }
    public string? Content { get; set; }
    public string? Refusal { get; set; }
    public JsonElement? ToolCalls { get; set; }

    /// <summary>Vendor additions such as <c>reasoning_content</c>, passed on as they came.</summary>
    [JsonExtensionData]
    public Dictionary<string, JsonElement>? ExtensionData { get; set; }
}

public sealed class Usage
{
    public int PromptTokens { get; set; }
    public int CompletionTokens { get; set; }
    public int TotalTokens { get; set; }

    /// <summary>Provider additions such as DeepInfra's <c>estimated_cost</c>; kept for metering, not shown to clients.</summary>
    [JsonExtensionData]
    public Dictionary<string, JsonElement>? ExtensionData { get; set; }
}
