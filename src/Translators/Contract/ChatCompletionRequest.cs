using System.Text.Json;
using System.Text.Json.Serialization;

namespace Gateway.Translators.Contract;

/// <summary>
/// An OpenAI <c>POST /v1/chat/completions</c> body. Wire names are snake_case (see <see cref="OpenAiJson"/>).
/// Fields the gateway does not know are kept in <see cref="ExtensionData"/> so OpenAI-compatible
/// upstreams still receive them.
/// </summary>
public sealed class ChatCompletionRequest
{
    public string? Model { get; set; }
    public List<ChatMessage>? Messages { get; set; }
    public int? MaxTokens { get; set; }
    public int? MaxCompletionTokens { get; set; }
    public double? Temperature { get; set; }
    public double? TopP { get; set; }
    public int? N { get; set; }
    public JsonElement? Stop { get; set; }
    public long? Seed { get; set; }
    public double? PresencePenalty { get; set; }
    public double? FrequencyPenalty { get; set; }
    public JsonElement? LogitBias { get; set; }
    public bool? Logprobs { get; set; }
    public int? TopLogprobs { get; set; }
    public string? User { get; set; }
    public bool? Stream { get; set; }
    public StreamOptions? StreamOptions { get; set; }
    public JsonElement? ResponseFormat { get; set; }
    public JsonElement? Tools { get; set; }
    public JsonElement? ToolChoice { get; set; }
    public bool? ParallelToolCalls { get; set; }

    [JsonExtensionData]
    public Dictionary<string, JsonElement>? ExtensionData { get; set; }

    /// <summary>A copy whose scalar fields can be changed without touching the client's request.</summary>
    public ChatCompletionRequest ShallowCopy() => (ChatCompletionRequest)MemberwiseClone();

    [JsonIgnore]
    public bool IsStreaming => Stream == true;

    [JsonIgnore]
    public bool IncludeUsageInStream => Stream == true && StreamOptions?.IncludeUsage == true;

    /// <summary><c>max_completion_tokens</c> supersedes the deprecated <c>max_tokens</c>.</summary>
    [JsonIgnore]
    public int? EffectiveMaxTokens => MaxCompletionTokens ?? MaxTokens;

    /// <summary>True when <see cref="MaxTokens"/> is the gateway's cap, not the client's (dropped silently where unsupported).</summary>
    [JsonIgnore]
    public bool MaxTokensCapped { get; private set; }

    /// <summary>Sets the gateway's own completion limit on a request that carried none.</summary>
    public void CapMaxTokens(int maxTokens)
    {
        MaxTokens = maxTokens;
        MaxTokensCapped = true;
    }

    /// <summary>The wire name of whichever max-tokens field the client used, for error messages.</summary>
    [JsonIgnore]
    public string MaxTokensParam => MaxCompletionTokens is not null ? "max_completion_tokens" : "max_tokens";
}

public sealed class StreamOptions
{
    public bool? IncludeUsage { get; set; }

    [JsonExtensionData]
    public Dictionary<string, JsonElement>? ExtensionData { get; set; }
}
