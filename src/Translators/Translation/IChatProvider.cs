using System.Buffers;
using Gateway.Translators.Contract;

namespace Gateway.Translators.Translation;

/// <summary>
/// What every provider kind has: a name for gateway.json, an auth header, an error reader and a
/// finish-reason vocabulary. Capabilities (<see cref="IChatProvider"/>, <see cref="IAsyncTaskProvider"/>)
/// build on it. Implementations are pure translation: the gateway does the I/O.
/// </summary>
public interface IProvider
{
    /// <summary>The <c>Kind</c> value that selects this provider in gateway.json.</summary>
    string Kind { get; }

    /// <summary>The header that carries the provider key.</summary>
    (string Name, string Value) AuthHeader(string apiKey);

    /// <summary>Reads and classifies a non-2xx answer.</summary>
    UpstreamError ReadError(int status, ReadOnlySpan<byte> body, Func<string, string?> header, DateTimeOffset now);

    /// <summary>Maps a provider finish reason onto OpenAI's vocabulary (unknown ones pass through).</summary>
    string MapFinishReason(string reason);

    /// <summary>The most completion tokens one answer can have, where the provider documents a ceiling; null where it does not.</summary>
    int? MaxCompletionTokens => null;

    /// <summary>The account balance the provider reports in a response's headers, where it reports one (Segmind's credits).</summary>
    double? RemainingCredits(Func<string, string?> header) => null;

    /// <summary>What the client sent that this deployment leaves out by the operator's decision (<see cref="ParameterGate.Dropped"/>).</summary>
    IReadOnlyList<string> DroppedParameters(ChatCompletionRequest request, DeploymentTarget target) => [];
}

/// <summary>A provider that answers chat completions in the HTTP response, whole or as a stream.</summary>
public interface IChatProvider : IProvider
{
    /// <summary>False when the provider has no streaming: streaming clients then get a synthesized stream.</summary>
    bool SupportsStreaming { get; }

    /// <summary>Path and query under the provider's base URL, e.g. <c>/v1/openai/chat/completions</c>.</summary>
    string RequestPath(DeploymentTarget target);

    /// <summary>Writes the provider's request body, or returns why this deployment cannot serve the request.</summary>
    RequestError? WriteRequest(ChatCompletionRequest request, DeploymentTarget target, bool stream, IBufferWriter<byte> body);

    /// <summary>Reads a successful non-streaming answer; false when it is not a usable completion.</summary>
    bool TryReadCompletion(ReadOnlySpan<byte> body, out ChatCompletion? completion);

    /// <summary>Reads the data of one upstream SSE event.</summary>
    StreamEvent ReadStreamEvent(ReadOnlySpan<byte> data);

    /// <summary>The provider's own statement of what the request cost, in micro-dollars, when it gives one.</summary>
    long? ReportedCostMicros(Usage? usage, Func<string, string?> header);

    /// <summary>A marker the provider may leave at the end of an answer's text (none by default); never shown to clients.</summary>
    string? EndOfSequenceMarker => null;
}

public enum StreamEventKind
{
    Chunk,
    Done,
    Error,
    Malformed,
}

/// <summary>One upstream SSE event, read.</summary>
public readonly record struct StreamEvent(StreamEventKind Kind, ChatCompletionChunk? Chunk = null, string? ErrorMessage = null)
{
    public static readonly StreamEvent Done = new(StreamEventKind.Done);
    public static readonly StreamEvent Malformed = new(StreamEventKind.Malformed);
}
