using Gateway.Translators.Contract;

namespace Gateway.Streaming;

/// <summary>Where upstream chunks go: straight to a streaming client, or into a collected answer.</summary>
internal interface IChunkSink
{
    /// <summary>True once bytes have gone to the client: from then on, no fallback is possible.</summary>
    bool ClientResponseStarted { get; }

    ValueTask WriteChunkAsync(ChatCompletionChunk chunk, CancellationToken cancellationToken);
}
