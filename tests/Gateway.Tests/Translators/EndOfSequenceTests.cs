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
        if (filter.Flush() is { } last)
        {
            sent.Add(last);
        }

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
        Assert.Null(filter.Flush());
    }

    [Theory]
    [InlineData("Hello</s>", "Hello")]
    [InlineData("</s> in the middle", "</s> in the middle")]
    [InlineData(null, null)]
    public void WholeAnswer_OnlyTheEndIsCut(string? content, string? expected) => Assert.Equal(expected, EndOfSequence.StripEnd(content, "</s>"));
}
