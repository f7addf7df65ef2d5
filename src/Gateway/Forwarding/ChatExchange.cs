using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using Gateway.Configuration;
using Gateway.Translators.Contract;
using Gateway.Translators.Translation;

namespace Gateway.Forwarding;

/// <summary>
/// Everything one chat completion request carries from admission to metering: who asked, for
/// what, which deployment answered, and what it produced.
/// </summary>
internal sealed class ChatExchange
{
    private int? _estimatedPromptTokens;
    private int? _countedPromptTokens;
    private int? _countedCompletionTokens;
    private StringBuilder? _completionText;

    public ChatExchange(string requestId, ClientKey key, ChatCompletionRequest request, ModelRoute route, TimeProvider clock)
    {
        RequestId = requestId;
        Key = key;
        Request = request;
        Route = route;
        PublicModel = request.Model!;
        StartedAt = clock.GetTimestamp();
        Created = clock.GetUtcNow().ToUnixTimeSeconds();
        Clock = clock;
    }

    public string RequestId { get; }

    /// <summary>Unique per request (unlike a caller-chosen request id): the usage record's identity.</summary>
    public string RecordId { get; } = Metering.UsageRecords.NewId();
    public ClientKey Key { get; }
    public ChatCompletionRequest Request { get; }
    public ModelRoute Route { get; }
    public TimeProvider Clock { get; }

    /// <summary>The model name exactly as the client asked for it; answers carry this name.</summary>
    public string PublicModel { get; }

    /// <summary>One id for the whole answer, the same in every chunk of a stream.</summary>
    public string CompletionId { get; init; } = Endpoints.Ids.New("chatcmpl-", 12);

    public long Created { get; init; }
    public long StartedAt { get; }
    public long? FirstTokenAt { get; private set; }

    /// <summary>Retries, circuits and strategy settings of the configuration this request started under.</summary>
    public Routing.RoutingSettings Routing { get; init; } = Gateway.Routing.RoutingSettings.Default;

    /// <summary>How long the request may take as a whole; attempts get what is left.</summary>
    public Routing.RequestDeadline? Deadline { get; init; }

    public Deployment? ServedBy { get; set; }
    public Usage? ReportedUsage { get; set; }
    public long? ProviderCostMicros { get; set; }

    /// <summary>Adds what a provider charged for one attempt: a failed attempt that was charged, then a fallback, count both.</summary>
    public void AddProviderCost(long? micros)
    {
        if (micros is { } m)
        {
            ProviderCostMicros = (ProviderCostMicros ?? 0) + m;
        }
    }

    /// <summary>Set when the answer came from the response cache: it costs nothing at the provider.</summary>
    public Caching.CachedAnswer? CachedAnswer { get; set; }

    /// <summary>Set when the answer may be cached: the writers tell it what the client received.</summary>
    public Caching.AnswerRecorder? Recorder { get; set; }

    /// <summary>
    /// The text relayed to the client, kept only to be counted (tokenizer) if the provider reports no usage:
    /// appending is cheap on the stream's hot path; counting happens at most once, at the end, when needed.
    /// </summary>
    public void AddCompletionText(string? text)
    {
        if (!string.IsNullOrEmpty(text))
        {
            (_completionText ??= new StringBuilder()).Append(text);
            _countedCompletionTokens = null;
        }
    }

    /// <summary>Completion tokens the gateway counted in what it relayed; billed only when the provider reports none.</summary>
    public int CountedCompletionTokens => _countedCompletionTokens ??= Metering.TokenCounter.Count(_completionText?.ToString());

    /// <summary>The cheap heuristic that admission reserves with; settlement replaces it with what is billed.</summary>
    public int EstimatedPromptTokens => _estimatedPromptTokens ??= TokenEstimator.EstimatePrompt(Request.Messages!);

    /// <summary>Prompt tokens billed when the provider reports none: the tokenizer's count, made only when needed.</summary>
    public int CountedPromptTokens => _countedPromptTokens ??= Metering.TokenCounter.CountPrompt(Request.Messages!);

    public void MarkFirstToken() => FirstTokenAt ??= Clock.GetTimestamp();

    /// <summary>The usage to report and meter: the provider's figures, or labelled estimates.</summary>
    public (int Prompt, int Completion, bool Estimated) FinalUsage() =>
        ReportedUsage is { } u && (u.PromptTokens > 0 || u.CompletionTokens > 0)
            ? (u.PromptTokens, u.CompletionTokens, false)
            : (CountedPromptTokens, CountedCompletionTokens, true);

    /// <summary>What the answer costs by the price table, in micro-dollars.</summary>
    public long CostMicros()
    {
        if (CachedAnswer is not null)
        {
            return 0;
        }

        var (prompt, completion, _) = FinalUsage();
        return ServedBy?.Price.CostMicros(prompt, completion) ?? 0;
    }

    public TimeSpan Elapsed => Clock.GetElapsedTime(StartedAt);

    public TimeSpan? TimeToFirstToken => FirstTokenAt is { } t ? Clock.GetElapsedTime(StartedAt, t) : null;

    public override string ToString() => $"{RequestId} {PublicModel}";
}
