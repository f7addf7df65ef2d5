namespace ProviderSimulator;

/// <summary>
/// The deterministic answer to a prompt: "echo: " plus the last user message (directives removed),
/// or <c>words=N</c> filler words; cut at max_tokens with finish reason "length". Tokens are
/// counted as whitespace-separated words, so tests can predict usage exactly.
/// </summary>
public sealed class ReplyPlan
{
    private static readonly string[] Filler = ["lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit"];

    public required IReadOnlyList<string> Pieces { get; init; }
    public required string FinishReason { get; init; }
    public required int PromptTokens { get; init; }

    public int CompletionTokens => Pieces.Count;
    public string Text => string.Concat(Pieces);

    public static ReplyPlan For(IEnumerable<string> promptTexts, string lastUserText, int? maxTokens, Directives d, string stopReason = "stop")
    {
        var words = d.Int("words") is { } n
            ? Enumerable.Range(0, n).Select(i => Filler[i % Filler.Length]).ToList()
            : ("echo: " + Directives.Strip(lastUserText)).Split(' ', StringSplitOptions.RemoveEmptyEntries).ToList();
        var finish = d.Text("finish") ?? stopReason;
        if (maxTokens is { } max && words.Count > max)
        {
            words = words.Take(max).ToList();
            finish = "length";
        }

        // Each piece carries its leading space, the way tokenizers emit words.
        var pieces = words.Select((w, i) => i == 0 ? w : " " + w).ToList();
        return new ReplyPlan
        {
            Pieces = pieces,
            FinishReason = finish,
            PromptTokens = promptTexts.Sum(CountWords),
        };
    }

    public static int CountWords(string text) => text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).Length;
}
