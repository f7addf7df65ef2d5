using Gateway.Configuration;
using Gateway.Translators.Contract;
using Gateway.Translators.Translation;

namespace Gateway.Requests;

/// <summary>
/// What is known about one chat completion request before anything is forwarded, fixed from then on: who asked, the
/// request as it is sent (the key's completion cap applied), the route, the deadline, the stop token, and the answer's
/// identity (id, created time, public model name). What the answer produces is not here: the code that produces it
/// returns it (<see cref="ProducedAnswer"/>, in <see cref="AttemptResult.Answer"/>).
/// </summary>
internal sealed class ChatExchange
{
    private int? _estimatedPromptTokens;
    private int? _countedPromptTokens;

    public ChatExchange(string requestId, ClientKey key, ChatCompletionRequest request, ModelRoute route, RoutingSettings routing,
        RequestDeadline deadline, RequestStop stop, TimeProvider clock)
    {
        RequestId = requestId;
        Key = key;
        Request = request;
        Route = route;
        Routing = routing;
        Deadline = deadline;
        Stop = stop;
        PublicModel = request.Model!;
        Clock = clock;
        StartedAt = clock.GetTimestamp();
        Created = clock.GetUtcNow().ToUnixTimeSeconds();
    }

    public string RequestId { get; }

    /// <summary>Unique per request (unlike a caller-chosen request id): the usage record's identity.</summary>
    public string RecordId { get; } = RecordIds.New();
    public ClientKey Key { get; }

    /// <summary>The request as it is sent: read once, the key's completion cap applied, not changed after.</summary>
    public ChatCompletionRequest Request { get; }
    public ModelRoute Route { get; }
    public TimeProvider Clock { get; }

    /// <summary>The model name exactly as the client asked for it; answers carry this name.</summary>
    public string PublicModel { get; }

    /// <summary>One id for the whole answer, the same in every chunk of a stream.</summary>
    public string CompletionId { get; init; } = Ids.New("chatcmpl-", 12);

    public long Created { get; init; }
    public long StartedAt { get; }

    /// <summary>Retries, circuits and strategy settings of the configuration this request started under.</summary>
    public RoutingSettings Routing { get; }

    /// <summary>How long the request may take as a whole; attempts get what is left.</summary>
    public RequestDeadline Deadline { get; }

    /// <summary>Cancels everything downstream (client gone, deadline, shutdown) and says which it was.</summary>
    public RequestStop Stop { get; }

    /// <summary>The cheap heuristic that admission reserves with; settlement replaces it with what is billed.</summary>
    public int EstimatedPromptTokens => _estimatedPromptTokens ??= TokenEstimator.EstimatePrompt(Request.Messages!);

    /// <summary>Prompt tokens billed when the provider reports none: the tokenizer's count, made only when needed.</summary>
    public int CountedPromptTokens => _countedPromptTokens ??= TokenCounter.CountPrompt(Request.Messages!);

    public TimeSpan Elapsed => Clock.GetElapsedTime(StartedAt);

    public override string ToString() => $"{RequestId} {PublicModel}";
}
