using System.Text;
using Gateway.Configuration;
using Gateway.Translators.Contract;

namespace Gateway.Requests;

/// <summary>
/// What one answer produced: the deployment that answered (or the cache), the usage it reported, the text relayed
/// (counted only if no usage was reported), when its first token went out. Written only by the writers of the one
/// attempt that created it, and handed back with that attempt's <see cref="AttemptResult"/>; the endpoint meters it.
/// </summary>
internal sealed class ProducedAnswer
{
    /// <summary>
    /// The most relayed text kept uncounted: past it, the text up to the last place where counting the parts gives the
    /// whole's count (<see cref="TokenCounter.IsSplitPoint"/>) is counted and let go, so a long answer keeps about this
    /// much text (16 KB), not all of it.
    /// </summary>
    internal const int KeptTextLimit = 8192;

    private readonly ChatExchange _exchange;
    private int? _countedCompletionTokens;
    private StringBuilder? _completionText;
    private int _countedAhead;
    private int _nextCountAt = KeptTextLimit;

    /// <param name="servedBy">The deployment answering; for a cached answer, the one that answered first (if still configured).</param>
    /// <param name="recorder">Keeps what the client is sent, for the response cache; null when the answer is not cacheable.</param>
    /// <param name="savedMicros">For an answer from the cache: what it cost when it was first made (nothing is spent now).</param>
    public ProducedAnswer(ChatExchange exchange, Deployment? servedBy, IAnswerRecorder? recorder = null, long? savedMicros = null)
    {
        _exchange = exchange;
        ServedBy = servedBy;
        Recorder = recorder;
        SavedMicros = savedMicros;
    }

    public Deployment? ServedBy { get; }

    public IAnswerRecorder? Recorder { get; }

    /// <summary>Set when the answer came from the response cache: what it saved (it costs nothing at the provider).</summary>
    public long? SavedMicros { get; }

    public bool FromCache => SavedMicros is not null;

    public Usage? ReportedUsage { get; private set; }

    public long? FirstTokenAt { get; private set; }

    public void Report(Usage usage) => ReportedUsage = usage;

    public void MarkFirstToken() => FirstTokenAt ??= _exchange.Clock.GetTimestamp();

    /// <summary>
    /// The text relayed to the client, kept only to be counted (tokenizer) if the provider reports no usage:
    /// appending is cheap on the stream's hot path; the last part is counted at the end, when needed, and a long answer's
    /// earlier parts as it goes, once each (<see cref="KeptTextLimit"/>).
    /// </summary>
    public void AddCompletionText(string? text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return;
        }

        var kept = (_completionText ??= new StringBuilder()).Append(text);
        _countedCompletionTokens = null;
        if (kept.Length > _nextCountAt)
        {
            CountAhead(kept);
        }
    }

    /// <summary>Completion tokens the gateway counted in what it relayed; billed only when the provider reports none.</summary>
    public int CountedCompletionTokens => _countedCompletionTokens ??= _countedAhead + TokenCounter.Count(_completionText?.ToString());

    /// <summary>Characters of relayed text kept, not yet counted.</summary>
    internal int KeptTextLength => _completionText?.Length ?? 0;

    /// <summary>
    /// Counts the kept text up to its last <see cref="TokenCounter.IsSplitPoint"/> and lets that part go. Without such a
    /// place (one run of letters) the text is kept, and looked at again when it has doubled: the work stays linear.
    /// </summary>
    private void CountAhead(StringBuilder kept)
    {
        var text = kept.ToString();
        var split = text.Length - 1;
        while (split > 0 && !TokenCounter.IsSplitPoint(text, split))
        {
            split--;
        }

        if (split <= 0)
        {
            _nextCountAt = 2 * text.Length;
            return;
        }

        _countedAhead += TokenCounter.Count(text.AsSpan(0, split));
        kept.Clear().Append(text, split, text.Length - split);
        _nextCountAt = KeptTextLimit;
    }

    /// <summary>The provider reported token counts: they are billed, and the relayed text is never counted.</summary>
    public bool HasReportedCounts => ReportedUsage is { } u && (u.PromptTokens > 0 || u.CompletionTokens > 0);

    /// <summary>The usage to report and meter: the provider's figures, or labelled estimates.</summary>
    public (int Prompt, int Completion, bool Estimated) FinalUsage() =>
        HasReportedCounts
            ? (ReportedUsage!.PromptTokens, ReportedUsage.CompletionTokens, false)
            : (_exchange.CountedPromptTokens, CountedCompletionTokens, true);

    /// <summary>What the answer costs by the price table, in micro-dollars: nothing for an answer from the cache.</summary>
    public long CostMicros()
    {
        if (FromCache)
        {
            return 0;
        }

        var (prompt, completion, _) = FinalUsage();
        return ServedBy?.Price.CostMicros(prompt, completion) ?? 0;
    }

    public TimeSpan? TimeToFirstToken => FirstTokenAt is { } t ? _exchange.Clock.GetElapsedTime(_exchange.StartedAt, t) : null;
}

/// <summary>Keeps what a client is sent, as it is sent (the response cache's recorder).</summary>
internal interface IAnswerRecorder
{
    void Whole(ChatCompletion completion, Func<string, string> mapFinishReason, ProducedAnswer answer);

    void Chunk(ChatCompletionChunk chunk, Func<string, string> mapFinishReason);

    /// <summary>Every chunk of the answer has been read from the provider: it is whole.</summary>
    void StreamEnded(ProducedAnswer answer);
}
