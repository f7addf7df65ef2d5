using System.Buffers;
using System.IO.Pipelines;
using System.Text.Json;
using Gateway.Errors;
using Gateway.Requests;
using Gateway.Translators.Contract;

namespace Gateway.Streaming;

/// <summary>
/// Writes the OpenAI stream to the client (PROVIDERS.md §1): the same id, created and public model
/// in every chunk, the role in each choice's first delta, finish reasons mapped, upstream usage held
/// back and shown once, as a <c>choices: []</c> chunk before <c>[DONE]</c>, only if the client asked.
/// Events go out in order, unmerged, and are never held while the gateway waits: the events of one read from the provider
/// are flushed together, before the pump reads again (<see cref="StreamPump"/>), so a burst of ten events costs one send
/// to the client, not ten; an event that arrives alone is sent alone, at once.
/// </summary>
internal sealed class ClientStreamWriter : IChunkSink, IDisposable
{
    private static readonly byte[] DataPrefix = "data: "u8.ToArray();
    private static readonly byte[] EventEnd = "\n\n"u8.ToArray();
    private static readonly byte[] Done = "data: [DONE]\n\n"u8.ToArray();

    private readonly HttpResponse _response;
    private readonly ChatExchange _exchange;
    private readonly ProducedAnswer _answer;
    private readonly Func<string, string> _mapFinishReason;
    private readonly PipeWriter _output;
    private readonly Utf8JsonWriter _json;
    private ulong _rolesSent;
    private bool _unflushed;

    public ClientStreamWriter(HttpResponse response, ChatExchange exchange, ProducedAnswer answer, Func<string, string> mapFinishReason)
    {
        _response = response;
        _exchange = exchange;
        _answer = answer;
        _mapFinishReason = mapFinishReason;
        _output = response.BodyWriter;
        _json = new Utf8JsonWriter(_output, OpenAiJsonWriting.Options);
    }

    public bool ClientResponseStarted { get; private set; }

    /// <summary>Set when the client can no longer be written to.</summary>
    public bool ClientGone { get; private set; }

    /// <summary>Writes one event; it is sent at the next <see cref="FlushAsync"/> (the pump's, before it reads again) or with the end of the stream.</summary>
    public ValueTask WriteChunkAsync(ChatCompletionChunk chunk, CancellationToken cancellationToken)
    {
        if (chunk.Usage is { } usage)
        {
            _answer.Report(usage);
        }

        if (chunk.Choices is not { Count: > 0 })
        {
            // A usage-only or empty chunk: usage is captured above and written once at the end.
            return ValueTask.CompletedTask;
        }

        Start();
        WriteEventStart();
        WriteChunkJson(chunk);
        WriteEventEnd();
        _answer.MarkFirstToken();
        _answer.Recorder?.Chunk(chunk, _mapFinishReason);
        _unflushed = true;
        return ValueTask.CompletedTask;
    }

    public bool HasUnflushed => _unflushed;

    /// <summary>Ends a complete stream: the usage chunk if asked for, then <c>[DONE]</c>.</summary>
    public async ValueTask CompleteAsync(CancellationToken cancellationToken)
    {
        // Every chunk of the answer has been read from the provider: it is whole, before the last writes reach the client.
        _answer.Recorder?.StreamEnded(_answer);
        Start();
        if (_exchange.Request.IncludeUsageInStream)
        {
            WriteEventStart();
            WriteHeader();
            _json.WriteStartArray("choices"u8);
            _json.WriteEndArray();
            OpenAiJsonWriting.WriteUsage(_json, _answer);
            _json.WriteEndObject();
            _json.Flush();
            WriteEventEnd();
        }

        _output.Write(Done.AsSpan());
        await FlushAsync(cancellationToken);
    }

    /// <summary>An SSE comment: keeps proxies and clients from timing out while the answer is not ready.</summary>
    public async ValueTask KeepAliveAsync(CancellationToken cancellationToken)
    {
        Start();
        _output.Write(": keep-alive\n\n"u8);
        await FlushAsync(cancellationToken);
    }

    /// <summary>Reports a failure after the stream began as an OpenAI error event; the stream then ends (no <c>[DONE]</c>).</summary>
    public async ValueTask FailAsync(GatewayError error, CancellationToken cancellationToken)
    {
        Start();
        _output.Write(DataPrefix.AsSpan());
        ErrorWriter.Write(_output, error);
        _output.Write(EventEnd.AsSpan());
        await FlushAsync(cancellationToken);
    }

    public void Dispose() => _json.Dispose();

    private void Start()
    {
        if (ClientResponseStarted)
        {
            return;
        }

        ClientResponseStarted = true;
        _response.StatusCode = StatusCodes.Status200OK;
        _response.ContentType = "text/event-stream; charset=utf-8";
        _response.Headers.CacheControl = "no-cache";
        // Tell buffering proxies in front of us (nginx) to pass events through at once.
        _response.Headers["X-Accel-Buffering"] = "no";
    }

    private void WriteEventStart()
    {
        _output.Write(DataPrefix.AsSpan());
        _json.Reset(_output);
    }

    private void WriteEventEnd() => _output.Write(EventEnd.AsSpan());

    private void WriteHeader()
    {
        _json.WriteStartObject();
        _json.WriteString("id"u8, _exchange.CompletionId);
        _json.WriteString("object"u8, "chat.completion.chunk"u8);
        _json.WriteNumber("created"u8, _exchange.Created);
        _json.WriteString("model"u8, _exchange.PublicModel);
    }

    private void WriteChunkJson(ChatCompletionChunk chunk)
    {
        WriteHeader();
        if (chunk.SystemFingerprint is not null)
        {
            _json.WriteString("system_fingerprint"u8, chunk.SystemFingerprint);
        }

        _json.WriteStartArray("choices"u8);
        foreach (var choice in chunk.Choices!)
        {
            WriteChoice(choice);
        }

        _json.WriteEndArray();
        if (_exchange.Request.IncludeUsageInStream)
        {
            _json.WriteNull("usage"u8);
        }

        _json.WriteEndObject();
        _json.Flush();
    }

    private void WriteChoice(ChunkChoice choice)
    {
        _json.WriteStartObject();
        _json.WriteNumber("index"u8, choice.Index);
        _json.WriteStartObject("delta"u8);
        var delta = choice.Delta;
        if (FirstDeltaOf(choice.Index))
        {
            _json.WriteString("role"u8, delta?.Role ?? "assistant");
        }

        if (delta is not null)
        {
            if (delta.Content is not null)
            {
                _json.WriteString("content"u8, delta.Content);
                _answer.AddCompletionText(delta.Content);
            }

            if (delta.Refusal is not null)
            {
                _json.WriteString("refusal"u8, delta.Refusal);
            }

            if (delta.ToolCalls is { } calls)
            {
                _json.WritePropertyName("tool_calls"u8);
                calls.WriteTo(_json);
            }

            OpenAiJsonWriting.WriteExtensions(_json, delta.ExtensionData);
        }

        _json.WriteEndObject();
        OpenAiJsonWriting.WriteElementOrNull(_json, "logprobs"u8, choice.Logprobs);
        OpenAiJsonWriting.WriteStringOrNull(_json, "finish_reason"u8,
            choice.FinishReason is null ? null : _mapFinishReason(choice.FinishReason));
        _json.WriteEndObject();
    }

    private bool FirstDeltaOf(int index)
    {
        if (index is < 0 or > 63)
        {
            return false;
        }

        var bit = 1UL << index;
        if ((_rolesSent & bit) != 0)
        {
            return false;
        }

        _rolesSent |= bit;
        return true;
    }

    /// <summary>Sends everything written so far; throws <see cref="OperationCanceledException"/> when the client has gone.</summary>
    public async ValueTask FlushAsync(CancellationToken cancellationToken)
    {
        _unflushed = false;
        var result = await _output.FlushAsync(cancellationToken);
        if (result.IsCompleted || result.IsCanceled)
        {
            ClientGone = true;
            throw new OperationCanceledException("The client closed the connection.");
        }
    }
}
