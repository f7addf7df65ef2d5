using Gateway.Requests;
using Gateway.Streaming;
using Gateway.Translators.Contract;

namespace Gateway.Caching;

/// <summary>
/// Keeps what the client of a cacheable request is sent, as the writers send it: a whole completion, or the chunks
/// of a stream until the provider's stream ended. Only an answer that ended cleanly and can be replayed faithfully is offered
/// for storing: a stream cut short, or one whose chunks carried what a replay could not reproduce (per-token
/// logprobs, vendor fields), is not.
/// </summary>
internal sealed class AnswerRecorder : IAnswerRecorder
{
    private ChatCompletion? _whole;
    private StreamCollector? _stream;
    private Func<string, string> _mapFinishReason = static reason => reason;
    private bool _ended;
    private bool _unreplayable;

    /// <summary>Called once, when the answer is whole: the cache stores it and lands the flight without waiting for the client.</summary>
    public Action<ProducedAnswer>? Ended { get; set; }

    public void Whole(ChatCompletion completion, Func<string, string> mapFinishReason, ProducedAnswer answer)
    {
        _whole = completion;
        _mapFinishReason = mapFinishReason;
        End(answer);
    }

    public void Chunk(ChatCompletionChunk chunk, Func<string, string> mapFinishReason)
    {
        _mapFinishReason = mapFinishReason;
        if (_unreplayable)
        {
            return;
        }

        foreach (var choice in chunk.Choices!)
        {
            _unreplayable |= choice.Logprobs is { ValueKind: not System.Text.Json.JsonValueKind.Null } || choice.Delta?.ExtensionData is { Count: > 0 };
        }

        try
        {
            (_stream ??= new StreamCollector()).Add(chunk);
        }
        catch (AnswerTooLargeException)
        {
            _unreplayable = true;
            _stream = null;
        }
    }

    public void StreamEnded(ProducedAnswer answer) => End(answer);

    private void End(ProducedAnswer answer)
    {
        if (_ended)
        {
            return;
        }

        _ended = true;
        Ended?.Invoke(answer);
    }

    /// <summary>The answer as the client received it (finish reasons mapped), or null when it must not be stored.</summary>
    public ChatCompletion? Answer()
    {
        if (!_ended || _unreplayable || (_whole ?? _stream?.ToCompletion()) is not { Choices.Count: > 0 } completion)
        {
            return null;
        }

        return new ChatCompletion
        {
            Choices = completion.Choices.Select(c => new CompletionChoice
            {
                Index = c.Index,
                Message = c.Message,
                Logprobs = c.Logprobs,
                FinishReason = _mapFinishReason(c.FinishReason ?? "stop"),
            }).ToList(),
            SystemFingerprint = completion.SystemFingerprint,
        };
    }
}
