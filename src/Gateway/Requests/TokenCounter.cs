using Gateway.Translators.Contract;
using Microsoft.ML.Tokenizers;

namespace Gateway.Requests;

/// <summary>
/// Token counts the gateway bills when a provider reports none (Segmind never does; aborted streams
/// have none), from a real BPE tokenizer: cl100k_base (Microsoft.ML.Tokenizers). Llama 3's
/// vocabulary begins with cl100k's 100k tokens, so counts on Llama text are close; they are still
/// labelled <c>estimated</c>. Admission keeps the cheap heuristic (<see cref="Translators.Translation.TokenEstimator"/>):
/// it must decide before anything is known and is settled to the billed count afterwards.
/// </summary>
internal static class TokenCounter
{
    // The chat format's framing, as OpenAI counts it: 3 tokens per message besides its role and text,
    // 1 more for a name, and 3 to prime the answer.
    private const int PerMessageOverhead = 3;
    private const int PrimingOverhead = 3;

    private static readonly Lazy<Tokenizer> Cl100k = new(() => TiktokenTokenizer.CreateForEncoding("cl100k_base"));

    /// <summary>
    /// Loads the vocabulary in the background at start-up, so no request waits for it; on a thread of its own, since
    /// the second of CPU it takes would otherwise hold a thread-pool thread that timers and requests need.
    /// </summary>
    public static void Warm() => _ = Task.Factory.StartNew(() => Cl100k.Value, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    public static int Count(string? text) => Count(text.AsSpan());

    public static int Count(ReadOnlySpan<char> text) => text.IsEmpty ? 0 : Cl100k.Value.CountTokens(text);

    /// <summary>
    /// Whether a text may be cut before <paramref name="index"/> and its two parts counted apart for the whole's count:
    /// where a letter is followed by something else. cl100k's pre-tokenizer has no look-behind, and the piece holding
    /// that letter ends with it (letters run in <c>\p{L}+</c>, or end a contraction), so the pieces before the cut are
    /// the same whatever follows, and the next piece starts at the cut in both; BPE works within a piece, so the tokens
    /// are the same too. Covers spaced scripts and unspaced ones that use punctuation (Chinese, Japanese). Not before
    /// <c>|</c> or <c>_</c>: that would cut inside a special token (<c>&lt;|endoftext|&gt;</c>, <c>&lt;|fim_prefix|&gt;</c>),
    /// which counts as one token only whole.
    /// </summary>
    public static bool IsSplitPoint(string text, int index) =>
        index > 0 && index < text.Length && char.IsLetter(text[index - 1]) && !char.IsLetter(text[index])
        && text[index] is not ('|' or '_');

    /// <summary>Tokens of a whole prompt as the model sees it: every message's text, name and tool calls, framed.</summary>
    public static int CountPrompt(IReadOnlyList<ChatMessage> messages)
    {
        var total = PrimingOverhead;
        foreach (var m in messages)
        {
            total += PerMessageOverhead + Count(m.Role);
            if (m.Content is { } content)
            {
                total += content.Text is not null
                    ? Count(content.Text)
                    : content.Parts!.Where(p => p.Type == "text").Sum(p => Count(p.Text));
            }

            if (m.Name is not null)
            {
                total += Count(m.Name) + 1;
            }

            if (m.ToolCalls is { } calls)
            {
                total += Count(calls.GetRawText());
            }
        }

        return total;
    }
}
