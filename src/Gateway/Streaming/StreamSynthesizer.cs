using Gateway.Translators.Contract;

namespace Gateway.Streaming;

/// <summary>
/// Turns a whole completion into the chunks an OpenAI stream would have carried, for providers
/// without streaming: per choice the role with the full content, then the finish reason.
/// </summary>
internal static class StreamSynthesizer
{
    public static IEnumerable<ChatCompletionChunk> ToChunks(ChatCompletion completion)
    {
        foreach (var choice in completion.Choices!)
        {
            yield return new ChatCompletionChunk
            {
                SystemFingerprint = completion.SystemFingerprint,
                Choices =
                [
                    new ChunkChoice
                    {
                        Index = choice.Index,
                        Delta = new ChunkDelta
                        {
                            Role = choice.Message?.Role ?? "assistant",
                            Content = choice.Message?.Content ?? "",
                            Refusal = choice.Message?.Refusal,
                        },
                    },
                ],
            };
            yield return new ChatCompletionChunk
            {
                SystemFingerprint = completion.SystemFingerprint,
                Choices = [new ChunkChoice { Index = choice.Index, Delta = new ChunkDelta(), FinishReason = choice.FinishReason ?? "stop" }],
            };
        }

        if (completion.Usage is not null)
        {
            yield return new ChatCompletionChunk { Choices = [], Usage = completion.Usage };
        }
    }
}
