using Gateway.Translators.Contract;
using Gateway.Translators.Translation;

namespace Gateway.Tests.Translators;

/// <summary>DeepInfra's end-of-sequence marker is cut at the end of an answer, and only there.</summary>
public sealed class EndOfSequenceTests
{
    private static ChatCompletionChunk Text(string content) => new() { Choices = [new ChunkChoice { Delta = new ChunkDelta { Content = content } }] };

    private static ChatCompletionChunk Finish() => new() { Choices = [new ChunkChoice { Delta = new ChunkDelta(), FinishReason = "stop" }] };

    private static List<string?> Run(params ChatCompletionChunk[] chunks)
    {
        var filter = new EndOfSequence("</s>");
        var sent = chunks.SelectMany(filter.Push).ToList();
        sent.AddRange(filter.Flush());

        return sent.Select(c => c.Choices![0].Delta?.Content).ToList();
    }

    [Fact]
    public void MarkerBeforeTheFinish_IsCut() => Assert.Equal([" Hi", "", null], Run(Text(" Hi"), Text("</s>"), Finish()));

    [Fact]
    public void MarkerAtTheEndOfText_IsCut() => Assert.Equal(["bye", null], Run(Text("bye</s>"), Finish()));

    [Fact]
    public void MarkerOnTheFinishingChunk_IsCut() =>
        Assert.Equal(["bye"], Run(new ChatCompletionChunk { Choices = [new ChunkChoice { Delta = new ChunkDelta { Content = "bye</s>" }, FinishReason = "stop" }] }));

    [Fact]
    public void MarkerFollowedByMoreText_WasText() => Assert.Equal(["<s>x</s>", " more", null], Run(Text("<s>x</s>"), Text(" more"), Finish()));

    [Fact]
    public void StreamEndingWithoutFinish_HeldMarkerIsCut() => Assert.Equal(["a", ""], Run(Text("a"), Text("</s>")));

    [Fact]
    public void UsageOnlyChunkAfterMarker_EndsTheText()
    {
        var filter = new EndOfSequence("</s>");
        var sent = filter.Push(Text("ok</s>")).Concat(filter.Push(new ChatCompletionChunk { Choices = [], Usage = new Usage() })).ToList();

        Assert.Equal("ok", sent[0].Choices![0].Delta!.Content);
        Assert.Empty(filter.Flush());
    }

    private static ChatCompletionChunk Choice(int index, string? content, string? finish = null, string? logprobToken = null) => new()
    {
        Choices =
        [
            new ChunkChoice
            {
                Index = index, Delta = new ChunkDelta { Content = content }, FinishReason = finish,
                Logprobs = logprobToken is null ? null
                    : System.Text.Json.JsonDocument.Parse($$"""{"content":[{"token":"{{logprobToken}}","logprob":-0.1,"bytes":null,"top_logprobs":[]}]}""").RootElement.Clone(),
            },
        ],
    };

    [Fact]
    public void SeveralChoices_EachHoldsItsOwnMarker_AnotherChoicesTextDoesNotReleaseIt()
    {
        // n = 2, interleaved as providers stream it: choice 0 ends with the marker, then choice 1 goes on.
        var filter = new EndOfSequence("</s>");
        var sent = new[]
        {
            Choice(0, "a"), Choice(1, "b"), Choice(0, "</s>", logprobToken: "</s>"), Choice(1, " more"), Choice(1, "</s>"),
            Choice(0, null, "stop"), Choice(1, null, "stop"),
        }.SelectMany(filter.Push).Concat(filter.Flush()).ToList();

        var text = sent.SelectMany(c => c.Choices!).GroupBy(c => c.Index)
            .ToDictionary(g => g.Key, g => string.Concat(g.Select(c => c.Delta?.Content)));
        Assert.Equal("a", text[0]);
        Assert.Equal("b more", text[1]);
        Assert.DoesNotContain(sent.SelectMany(c => c.Choices!), c => c.Delta?.Content?.Contains("</s>") == true);
        // The marker's token leaves the logprobs with it.
        var logprobs = sent.SelectMany(c => c.Choices!).Where(c => c.Logprobs is not null).Select(c => c.Logprobs!.Value).Single();
        Assert.Equal(0, logprobs.GetProperty("content").GetArrayLength());
    }

    [Fact]
    public void WholeAnswerLogprobs_LoseTheMarkersToken()
    {
        var logprobs = System.Text.Json.JsonDocument.Parse("""{"content":[{"token":"Hi","logprob":-0.2},{"token":"</s>","logprob":-0.1}]}""").RootElement;
        var stripped = EndOfSequence.StripLogprobs(logprobs, "</s>")!.Value;
        Assert.Equal(["Hi"], stripped.GetProperty("content").EnumerateArray().Select(t => t.GetProperty("token").GetString()));
        var untouched = System.Text.Json.JsonDocument.Parse("""{"content":[{"token":"Hi","logprob":-0.2}]}""").RootElement;
        Assert.Equal(untouched.GetRawText(), EndOfSequence.StripLogprobs(untouched, "</s>")!.Value.GetRawText());
    }

    [Theory]
    [InlineData("Hello</s>", "Hello")]
    [InlineData("</s> in the middle", "</s> in the middle")]
    [InlineData(null, null)]
    public void WholeAnswer_OnlyTheEndIsCut(string? content, string? expected) => Assert.Equal(expected, EndOfSequence.StripEnd(content, "</s>"));
}
