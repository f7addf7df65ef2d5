using System.Buffers;
using System.Text.Json;
using Gateway.Translators.Contract;
using Gateway.Translators.Translation;

namespace Gateway.Translators.Providers.OpenAiCompatible;

/// <summary>
/// The shared base of providers whose API is shaped like OpenAI's. A provider declares only its
/// differences: path, auth header, parameters, message rules, status codes and cost figure.
/// </summary>
public abstract class OpenAiCompatibleProvider : IChatProvider
{
    public abstract string Kind { get; }

    public virtual bool SupportsStreaming => true;

    /// <summary>Whether the upstream accepts <c>stream_options.include_usage</c>.</summary>
    protected virtual bool AcceptsStreamOptions => false;

    protected abstract ParameterSupport Parameters { get; }

    protected virtual MessageRules Messages => MessageRules.OpenAi;

    public abstract string RequestPath(DeploymentTarget target);

    public virtual (string Name, string Value) AuthHeader(string apiKey) => ("Authorization", "Bearer " + apiKey);

    public RequestError? WriteRequest(ChatCompletionRequest request, DeploymentTarget target, bool stream, IBufferWriter<byte> body)
    {
        var error = OpenAiRequestWriter.CheckMessages(request.Messages!, Messages, target);
        if (error is not null)
        {
            return error;
        }

        var gated = ParameterGate.Apply(request, Parameters, target, out error);
        if ((error ??= CheckValues(gated, target)) is not null)
        {
            return error;
        }

        // Usage is always wanted for metering, but stream_options goes only where the provider is known to take it
        // and the deployment passes it (no seed documents it); otherwise a stream without usage is counted.
        var askForUsage = AcceptsStreamOptions && target.Decide("stream_options") == UndocumentedPolicy.Pass;
        OpenAiRequestWriter.Write(body, gated, Messages, target, stream && SupportsStreaming, askForUsage, ModelInBody);
        return null;
    }

    /// <summary>Documented parameters whose allowed values are narrower than OpenAI's (DeepInfra's tool_choice).</summary>
    protected virtual RequestError? CheckValues(ChatCompletionRequest gated, DeploymentTarget target) => null;

    public virtual bool TryReadCompletion(ReadOnlySpan<byte> body, out ChatCompletion? completion)
    {
        if (!CompletionReader.TryRead(body, out completion))
        {
            return false;
        }

        if (completion?.Choices is not { Count: > 0 } || !completion.Choices.TrueForAll(c => c.Message is not null))
        {
            return false;
        }

        if (EndOfSequenceMarker is { } marker)
        {
            foreach (var choice in completion.Choices)
            {
                if (choice.Message!.Content?.EndsWith(marker, StringComparison.Ordinal) == true)
                {
                    choice.Message.Content = EndOfSequence.StripEnd(choice.Message.Content, marker);
                    choice.Logprobs = EndOfSequence.StripLogprobs(choice.Logprobs, marker);
                }
            }
        }

        return true;
    }

    public int? MaxCompletionTokens => Parameters.RangeOf("max_tokens") is { } range ? (int)range.Max : null;

    /// <summary>The account balance in a response's headers, for providers that report one.</summary>
    public virtual double? RemainingCredits(Func<string, string?> header) => null;

    public IReadOnlyList<string> DroppedParameters(ChatCompletionRequest request, DeploymentTarget target) =>
        ParameterGate.Dropped(request, Parameters, target);

    /// <summary>A marker the provider leaves at the end of its text, removed before clients see it.</summary>
    public virtual string? EndOfSequenceMarker => null;

    /// <summary>False where the model is named by the URL, not the body (Segmind).</summary>
    protected virtual bool ModelInBody => true;

    public virtual StreamEvent ReadStreamEvent(ReadOnlySpan<byte> data)
    {
        if (data.SequenceEqual("[DONE]"u8))
        {
            return StreamEvent.Done;
        }

        if (!ChunkReader.TryRead(data, out var chunk))
        {
            return StreamEvent.Malformed;
        }

        if (chunk!.Error is { } error)
        {
            return new StreamEvent(StreamEventKind.Error, ErrorMessage: ErrorBodies.DescribeError(error));
        }

        return new StreamEvent(StreamEventKind.Chunk, chunk);
    }

    public UpstreamError ReadError(int status, ReadOnlySpan<byte> body, Func<string, string?> header, DateTimeOffset now)
    {
        var message = ErrorBodies.ExtractMessage(body);
        return new(Classify(status, message), status, message, ReadRetryAfter(header, now));
    }

    public virtual string MapFinishReason(string reason) => FinishReasons.Normalize(reason);

    public virtual long? ReportedCostMicros(Usage? usage, Func<string, string?> header) => null;

    /// <summary>The common meaning of provider status codes; providers override their own oddities.</summary>
    protected virtual UpstreamErrorClass Classify(int status) => StatusClasses.Default(status);

    /// <summary>For providers whose status alone is ambiguous (Hive's 400 is also "unknown model"): the message decides.</summary>
    protected virtual UpstreamErrorClass Classify(int status, string message) => Classify(status);

    protected virtual TimeSpan? ReadRetryAfter(Func<string, string?> header, DateTimeOffset now) => RetryAfter.Read(header, now);

    /// <summary>Reads a USD figure from <c>usage</c>'s provider extras into micro-dollars.</summary>
    protected static long? UsdExtraToMicros(Usage? usage, string name) =>
        usage?.ExtensionData is { } extra && extra.TryGetValue(name, out var v) && v.ValueKind == JsonValueKind.Number
            ? (long)Math.Round(v.GetDouble() * 1_000_000, MidpointRounding.AwayFromZero)
            : null;
}
