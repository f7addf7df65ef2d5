using System.Text;
using Gateway.Requests;
using Gateway.Translators.Contract;
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
    // before line breaks, tabs, letters outside ASCII, a letter outside the BMP (surrogate pairs), an emoji, and its
    // special tokens (counted as one token each when whole).
    private static readonly string[] Vocabulary =
    [
        "the", "quick", "brown", "fox", "it's", "we'll", "they'd", "I'm", "12345", "3.14159", "2026", ",", ".", "!", "?",
        "  ", "   ", "\n", "\n\n", "  \n", " \n\n", "\t", "café", "naïve", "Ünïcödé", "日本語", "Ελληνικά", "𝒜𝓁𝓅𝒽𝒶", "🙂",
        "foo_bar(x)", "{\"a\":1}", "'s", "'", "--", "a", "Z", "<|endoftext|>", "<|fim_prefix|>", "a|b",
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
        var text = RandomText(random, 60_000);
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

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void EveryPlaceTheRuleAllows_CountsTheSameInParts(int seed)
    {
        // The answer above cuts only where its kept text outgrows the limit: a few places per answer. Here every place the
        // rule allows in a text is tried.
        var text = RandomText(new Random(seed), 3_000);
        var whole = TokenCounter.Count(text);
        var tried = 0;
        for (var i = 1; i < text.Length; i++)
        {
            if (TokenCounter.IsSplitPoint(text, i))
            {
                tried++;
                Assert.True(whole == TokenCounter.Count(text[..i]) + TokenCounter.Count(text[i..]), $"cut at {i}: [{text[Math.Max(0, i - 8)..i]}|{text[i..Math.Min(text.Length, i + 8)]}]");
            }
        }

        Assert.True(tried > 300, $"only {tried} places tried");
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
    public void UnspacedScript_IsCountedAtItsPunctuation()
    {
        // Japanese has no spaces; its punctuation follows letters, and that is a place to count apart.
        var text = string.Concat(Enumerable.Repeat("日本語のテキストです。次の文、", 2_000));
        var answer = RelayHarness.Answer(RelayHarness.Exchange(stream: true, includeUsage: false));
        var mostKept = 0;
        foreach (var piece in text.Chunk(17))
        {
            answer.AddCompletionText(new string(piece));
            mostKept = Math.Max(mostKept, answer.KeptTextLength);
        }

        Assert.Equal(TokenCounter.Count(text), answer.CountedCompletionTokens);
        Assert.InRange(mostKept, 0, ProducedAnswer.KeptTextLimit + 17);
    }

    [Fact]
    public void TextWithNoPlaceToSplit_IsKeptWhole_AndStillCountedExactly()
    {
        // One run of letters: nothing can be counted apart, so it is kept (and counted once, at the end).
        var text = string.Concat(Enumerable.Repeat("日本語のテキスト", 5_000));
        var answer = RelayHarness.Answer(RelayHarness.Exchange(stream: true, includeUsage: false));
        foreach (var piece in text.Chunk(17))
        {
            answer.AddCompletionText(new string(piece));
        }

        Assert.Equal(text.Length, answer.KeptTextLength);
        Assert.Equal(TokenCounter.Count(text), answer.CountedCompletionTokens);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task AWholeAnswer_KeepsItsTextOnlyWhenItWillBeCounted(bool withUsage)
    {
        // A whole answer's usage comes with it: with counts, the text is never counted, so it is not kept (copied) either;
        // without, it is kept and billed as the estimate.
        var text = "A whole answer of some words.";
        var completion = new ChatCompletion
        {
            Choices = [new CompletionChoice { Index = 0, Message = new ResponseMessage { Role = "assistant", Content = text }, FinishReason = "stop" }],
            Usage = withUsage ? new Usage { PromptTokens = 7, CompletionTokens = 9 } : null,
        };
        var exchange = RelayHarness.Exchange(stream: false, includeUsage: false);
        var answer = RelayHarness.Answer(exchange);
        var context = new Microsoft.AspNetCore.Http.DefaultHttpContext();
        context.Response.Body = Stream.Null;

        await Gateway.Streaming.CompletionWriter.WriteAsync(context.Response, exchange, answer, completion, r => r, CancellationToken.None);

        Assert.Equal(withUsage ? 0 : text.Length, answer.KeptTextLength);
        Assert.Equal(withUsage ? (7, 9, false) : (exchange.CountedPromptTokens, TokenCounter.Count(text), true), answer.FinalUsage());
    }

    /// <summary>Words of <see cref="Vocabulary"/>, with a space after two in three of them.</summary>
    private static string RandomText(Random random, int length)
    {
        var text = new StringBuilder();
        while (text.Length < length)
        {
            text.Append(Vocabulary[random.Next(Vocabulary.Length)]);
            text.Append(random.Next(3) == 0 ? "" : " ");
        }

        return text.ToString();
    }

    [Theory]
    [InlineData("ab cd", 2, true)]
    [InlineData("ab.", 2, true)]
    [InlineData("ab12", 2, true)]
    [InlineData("語、", 1, true)]
    [InlineData("é ñ", 1, true)]
    [InlineData("ab  cd", 3, false)]
    [InlineData("12 ab", 2, false)]
    [InlineData("a. b", 2, false)]
    [InlineData("?\n", 1, false)]
    [InlineData("<|endoftext|>", 11, false)]
    [InlineData("<|fim_prefix|>", 5, false)]
    [InlineData("abc", 2, false)]
    [InlineData("ab", 2, false)]
    [InlineData("ab", 0, false)]
    public void SplitPoint_IsWhereALetterIsFollowedBySomethingElse(string text, int index, bool expected) =>
        Assert.Equal(expected, TokenCounter.IsSplitPoint(text, index));
}
