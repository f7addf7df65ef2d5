using System.Text;
using Gateway.Requests;
using Gateway.Tests.Translators;

namespace Gateway.Tests.Requests;

/// <summary>
/// The text relayed to a client is kept only to be counted should the provider report no usage. A long answer is counted
/// as it goes and let go, part by part: the parts must count exactly what the whole would, and the text kept must stay
/// bounded, however long the answer.
/// </summary>
public sealed class CompletionTextTests
{
    // Pieces that meet cl100k's pre-tokenizer rules on every side: contractions, digit runs, punctuation, runs of spaces
    // before line breaks, tabs, letters outside ASCII, a letter outside the BMP (surrogate pairs) and an emoji.
    private static readonly string[] Vocabulary =
    [
        "the", "quick", "brown", "fox", "it's", "we'll", "they'd", "I'm", "12345", "3.14159", "2026", ",", ".", "!", "?",
        "  ", "   ", "\n", "\n\n", "  \n", " \n\n", "\t", "café", "naïve", "Ünïcödé", "日本語", "Ελληνικά", "𝒜𝓁𝓅𝒽𝒶", "🙂",
        "foo_bar(x)", "{\"a\":1}", "'s", "'", "--", "a", "Z",
    ];

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    public void AnswerCountedInParts_CountsWhatTheWholeCounts_AndKeepsLittleOfIt(int seed)
    {
        var random = new Random(seed);
        var whole = new StringBuilder();
        while (whole.Length < 60_000)
        {
            whole.Append(Vocabulary[random.Next(Vocabulary.Length)]);
            whole.Append(random.Next(3) == 0 ? "" : " ");
        }

        var text = whole.ToString();
        var answer = RelayHarness.Answer(RelayHarness.Exchange(stream: true, includeUsage: false));
        var mostKept = 0;
        for (var at = 0; at < text.Length;)
        {
            // Deltas of 1-40 characters, cut anywhere (a provider's token boundaries are not the tokenizer's).
            var length = Math.Min(random.Next(1, 41), text.Length - at);
            answer.AddCompletionText(text.Substring(at, length));
            at += length;
            mostKept = Math.Max(mostKept, answer.KeptTextLength);
        }

        Assert.Equal(TokenCounter.Count(text), answer.CountedCompletionTokens);
        Assert.InRange(mostKept, 0, ProducedAnswer.KeptTextLimit + 40);
    }

    [Fact]
    public void WholeAnswerInOneDelta_IsCountedTheSame()
    {
        // A JSON answer arrives as one text.
        var text = string.Join(" ", Enumerable.Range(0, 5_000).Select(i => i % 7 == 0 ? "it's" : "word" + (i % 13)));
        var answer = RelayHarness.Answer(RelayHarness.Exchange(stream: false, includeUsage: false));

        answer.AddCompletionText(text);

        Assert.Equal(TokenCounter.Count(text), answer.CountedCompletionTokens);
        Assert.True(answer.KeptTextLength < text.Length, "the counted part was let go");
    }

    [Fact]
    public void TextWithNoPlaceToSplit_IsKeptWhole_AndStillCountedExactly()
    {
        // No space between letters anywhere: nothing can be counted apart, so it is kept (and counted once, at the end).
        var text = string.Concat(Enumerable.Repeat("日本語のテキスト、", 3_000));
        var answer = RelayHarness.Answer(RelayHarness.Exchange(stream: true, includeUsage: false));
        foreach (var piece in text.Chunk(17))
        {
            answer.AddCompletionText(new string(piece));
        }

        Assert.Equal(text.Length, answer.KeptTextLength);
        Assert.Equal(TokenCounter.Count(text), answer.CountedCompletionTokens);
    }

    [Theory]
    [InlineData("ab cd", 2, true)]
    [InlineData("ab  cd", 3, false)]
    [InlineData("ab 12", 2, false)]
    [InlineData("12 ab", 2, false)]
    [InlineData("a. b", 2, false)]
    [InlineData("ab c", 3, false)]
    [InlineData("é ñ", 1, true)]
    public void SplitPoint_IsASpaceBetweenTwoLetters(string text, int index, bool expected) =>
        Assert.Equal(expected, TokenCounter.IsSplitPoint(text, index));
}
