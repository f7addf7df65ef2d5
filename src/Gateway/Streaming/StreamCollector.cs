using System.Buffers;
using System.Text;
using System.Text.Json;
using Gateway.Translators.Contract;

namespace Gateway.Streaming;

/// <summary>
/// Collects an upstream stream into one completion, for a non-streaming client of a deployment
/// that only streams. Content is concatenated per choice; tool-call fragments are merged by index.
/// </summary>
internal sealed class StreamCollector : IChunkSink
{
    /// <summary>The largest answer the gateway takes from a provider, whole or collected from a stream.</summary>
    public const int MaxAnswerBytes = 32 * 1024 * 1024;

    private readonly SortedDictionary<int, ChoiceState> _choices = [];
    private long _size;
    private Usage? _usage;
    private string? _fingerprint;

    public bool ClientResponseStarted => false;

    public ValueTask WriteChunkAsync(ChatCompletionChunk chunk, CancellationToken cancellationToken)
    {
        Add(chunk);
        return ValueTask.CompletedTask;
    }

    /// <summary>A collected answer goes nowhere until it is whole.</summary>
    public bool HasUnflushed => false;

    public ValueTask FlushAsync(CancellationToken cancellationToken) => ValueTask.CompletedTask;

    /// <summary>Adds one chunk; throws <see cref="AnswerTooLargeException"/> past the size a whole answer may have.</summary>
    public void Add(ChatCompletionChunk chunk)
    {
        // The same bound as a whole JSON answer: a provider streaming forever must not fill the gateway's memory.
        foreach (var choice in chunk.Choices ?? [])
        {
            _size += (choice.Delta?.Content?.Length ?? 0) + (choice.Delta?.ToolCalls?.GetRawText().Length ?? 0);
        }

        if (_size > MaxAnswerBytes)
        {
            throw new AnswerTooLargeException();
        }

        _usage = chunk.Usage ?? _usage;
        _fingerprint ??= chunk.SystemFingerprint;
        foreach (var choice in chunk.Choices ?? [])
        {
            if (!_choices.TryGetValue(choice.Index, out var state))
            {
                _choices[choice.Index] = state = new ChoiceState();
            }

            state.Add(choice);
        }
    }

    public ChatCompletion ToCompletion() => new()
    {
        Choices = _choices.Select(c => c.Value.ToChoice(c.Key)).ToList(),
        Usage = _usage,
        SystemFingerprint = _fingerprint,
    };

    private sealed class ChoiceState
    {
        private readonly StringBuilder _content = new();
        private readonly SortedDictionary<int, ToolCallState> _toolCalls = [];
        private string? _role;
        private string? _finishReason;
        private bool _hasContent;

        public void Add(ChunkChoice choice)
        {
            _finishReason = choice.FinishReason ?? _finishReason;
            if (choice.Delta is not { } delta)
            {
                return;
            }

            _role ??= delta.Role;
            if (delta.Content is not null)
            {
                _content.Append(delta.Content);
                _hasContent = true;
            }

            if (delta.ToolCalls is { ValueKind: JsonValueKind.Array } calls)
            {
                foreach (var call in calls.EnumerateArray())
                {
                    var index = call.TryGetProperty("index", out var i) && i.TryGetInt32(out var n) ? n : _toolCalls.Count;
                    if (!_toolCalls.TryGetValue(index, out var state))
                    {
                        _toolCalls[index] = state = new ToolCallState();
                    }

                    state.Add(call);
                }
            }
        }

        public CompletionChoice ToChoice(int index) => new()
        {
            Index = index,
            FinishReason = _finishReason,
            Message = new ResponseMessage
            {
                Role = _role ?? "assistant",
                Content = _hasContent || _toolCalls.Count == 0 ? _content.ToString() : null,
                ToolCalls = _toolCalls.Count == 0 ? null : ToolCallState.ToJson(_toolCalls.Values),
            },
        };
    }

    private sealed class ToolCallState
    {
        private readonly StringBuilder _arguments = new();
        private string? _id;
        private string? _type;
        private string? _name;

        public void Add(JsonElement call)
        {
            _id ??= call.TryGetProperty("id", out var id) ? id.GetString() : null;
            _type ??= call.TryGetProperty("type", out var type) ? type.GetString() : null;
            if (call.TryGetProperty("function", out var function))
            {
                _name ??= function.TryGetProperty("name", out var name) ? name.GetString() : null;
                if (function.TryGetProperty("arguments", out var args) && args.ValueKind == JsonValueKind.String)
                {
                    _arguments.Append(args.GetString());
                }
            }
        }

        public static JsonElement ToJson(IEnumerable<ToolCallState> calls)
        {
            var buffer = new ArrayBufferWriter<byte>();
            using (var w = new Utf8JsonWriter(buffer, OpenAiJson.WriterOptions))
            {
                w.WriteStartArray();
                foreach (var c in calls)
                {
                    w.WriteStartObject();
                    w.WriteString("id"u8, c._id);
                    w.WriteString("type"u8, c._type ?? "function");
                    w.WriteStartObject("function"u8);
                    w.WriteString("name"u8, c._name);
                    w.WriteString("arguments"u8, c._arguments.ToString());
                    w.WriteEndObject();
                    w.WriteEndObject();
                }

                w.WriteEndArray();
            }

            using var doc = JsonDocument.Parse(buffer.WrittenMemory);
            return doc.RootElement.Clone();
        }
    }
}
