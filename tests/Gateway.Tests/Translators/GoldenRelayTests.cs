namespace Gateway.Tests.Translators;

/// <summary>
/// Recorded provider answers (odd ones included: pings, CRLF, multi-line data, escapes, non-BMP
/// text, a mid-stream error, a cut) run through the real response path, compared with golden
/// outputs, and re-run with the input split at every byte boundary: the client must see the same.
/// </summary>
public sealed class GoldenRelayTests
{
    public static TheoryData<string> Streams => [.. GoldenFixtures.Names("streams", ".sse")];

    public static TheoryData<string> Completions => [.. GoldenFixtures.Names("completions", ".json").Where(n => !n.Contains('.'))];

    [Theory]
    [MemberData(nameof(Streams))]
    public async Task Stream_RelayedToStreamingClient_MatchesGoldenAtEveryByteBoundary(string name)
    {
        var input = GoldenFixtures.Read($"streams/{name}.sse");
        var whole = await RelayHarness.SseAsync(name, input, [], clientStream: true, includeUsage: true);
        GoldenFixtures.AssertMatches($"streams/{name}.expected-stream.txt", whole);

        for (var cut = 1; cut < input.Length; cut++)
        {
            Assert.Equal(whole, await RelayHarness.SseAsync(name, input, [cut], clientStream: true, includeUsage: true));
        }

        var everyByte = Enumerable.Range(1, input.Length - 1).ToArray();
        Assert.Equal(whole, await RelayHarness.SseAsync(name, input, everyByte, clientStream: true, includeUsage: true));
    }

    [Theory]
    [MemberData(nameof(Streams))]
    public async Task Stream_WithoutIncludeUsage_MatchesGolden(string name)
    {
        var input = GoldenFixtures.Read($"streams/{name}.sse");
        var output = await RelayHarness.SseAsync(name, input, [], clientStream: true, includeUsage: false);
        GoldenFixtures.AssertMatches($"streams/{name}.expected-stream-no-usage.txt", output);
    }

    [Theory]
    [MemberData(nameof(Streams))]
    public async Task Stream_CollectedForNonStreamingClient_MatchesGoldenAtEveryByteBoundary(string name)
    {
        var input = GoldenFixtures.Read($"streams/{name}.sse");
        var whole = await RelayHarness.SseAsync(name, input, [], clientStream: false, includeUsage: false);
        GoldenFixtures.AssertMatches($"streams/{name}.expected-collected.txt", whole);

        for (var cut = 1; cut < input.Length; cut += 7)
        {
            Assert.Equal(whole, await RelayHarness.SseAsync(name, input, [cut], clientStream: false, includeUsage: false));
        }
    }

    [Theory]
    [MemberData(nameof(Completions))]
    public async Task Completion_ToNonStreamingClient_MatchesGolden(string name)
    {
        var output = await RelayHarness.CompletionAsync(name, GoldenFixtures.Read($"completions/{name}.json"), clientStream: false, includeUsage: false);
        GoldenFixtures.AssertMatches($"completions/{name}.expected-json.txt", output);
    }

    [Theory]
    [MemberData(nameof(Completions))]
    public async Task Completion_ToStreamingClient_IsSynthesizedStream(string name)
    {
        var output = await RelayHarness.CompletionAsync(name, GoldenFixtures.Read($"completions/{name}.json"), clientStream: true, includeUsage: true);
        GoldenFixtures.AssertMatches($"completions/{name}.expected-stream.txt", output);
    }
}
