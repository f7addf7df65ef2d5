using Gateway.Translators.Contract;

namespace Gateway.Streaming;

/// <summary>Where upstream chunks go: straight to a streaming client, or into a collected answer.</summary>
internal interface IChunkSink
{
    /// <summary>True once bytes have gone to the client: from then on, no fallback is possible.</summary>
    bool ClientResponseStarted { get; }

    /// <summary>Takes one chunk. A streaming sink may hold its bytes until <see cref="FlushAsync"/>.</summary>
    ValueTask WriteChunkAsync(ChatCompletionChunk chunk, CancellationToken cancellationToken);

    /// <summary>Whether chunks have been taken that have not yet been sent on.</summary>
    bool HasUnflushed { get; }

    /// <summary>Sends on what has been taken. The pump calls it before it waits for the provider again.</summary>
    ValueTask FlushAsync(CancellationToken cancellationToken);
}
