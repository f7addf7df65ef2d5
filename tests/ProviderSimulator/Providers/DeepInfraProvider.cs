using System.Text;
using System.Text.Json;

namespace ProviderSimulator.Providers;

/// <summary>
/// DeepInfra <c>POST /v1/openai/chat/completions</c>: bearer key, OpenAI errors, 422 FastAPI
/// validation details, usage with <c>estimated_cost</c>, usage on the finish chunk (or a separate
/// chunk), optional <c>: ping</c> comments, role in every chunk as in its documentation.
/// </summary>
public sealed class DeepInfraProvider(RequestLog log, Func<Directives> runFaults, DeepInfraOptions options, bool acceptUndocumented)
    : OpenAiLikeProvider(log, runFaults, acceptUndocumented)
{
    public override string Name => "deepinfra";

    protected override bool IsAuthorized(HttpRequest request) =>
        request.Headers.Authorization.ToString() == "Bearer " + options.ApiKey;

    protected override (byte[] Body, string ContentType) ErrorBody(int status, string message) => status switch
    {
        422 => (Encoding.UTF8.GetBytes(
            "{\"detail\":[{\"loc\":[\"body\",\"messages\"],\"msg\":" + JsonSerializer.Serialize(message) + ",\"type\":\"value_error\"}]}"),
            "application/json"),
        401 => ("""{"error":{"message":"Not authenticated"}}"""u8.ToArray(), "application/json"),
        _ => (Encoding.UTF8.GetBytes("{\"error\":{\"message\":" + JsonSerializer.Serialize(message) + "}}"), "application/json"),
    };

    protected override (int Status, string Message)? Validate(ChatRequestView r, string? slug)
    {
        if (r.Model is null || !options.Models.Contains(r.Model))
        {
            return (404, $"The model `{r.Model}` does not exist");
        }

        if (r.Temperature is < 0 or > 2)
        {
            return (422, "temperature: ensure this value is less than or equal to 2");
        }

        if (r.TopP is <= 0 or > 1)
        {
            return (422, "top_p: ensure this value is in (0, 1]");
        }

        return null;
    }

    // Seed 003's parameter list, plus what the run was told the provider also takes (DeepInfraOptions.AlsoAccept).
    protected override IReadOnlySet<string> DocumentedFields { get; } = new HashSet<string>(
    [
        "model", "messages", "stream", "temperature", "top_p", "min_p", "top_k", "max_tokens", "presence_penalty", "frequency_penalty",
        "tool_choice", "repetition_penalty", "user", "seed", .. options.AlsoAccept,
    ], StringComparer.Ordinal);

    // Seed 003's messages: OpenAI's message fields (its grammar includes tool messages and names).
    protected override IReadOnlySet<string> DocumentedMessageFields { get; } = new HashSet<string>(StringComparer.Ordinal)
    {
        "role", "content", "name", "tool_calls", "tool_call_id",
    };

    protected override (int Status, string Message) UndocumentedField(string field) => (422, $"{field}: extra fields not permitted");

    // tool_call=<name>: when the request offers that function, the answer calls it (arguments {"city":"Paris"}).
    private static string? ToolToCall(SimExchange x, ChatRequestView r) => x.Knobs.Text("tool_call") is { } name && r.ToolNames.Contains(name) ? name : null;

    private const string ToolArguments = """{"city":"Paris"}""";

    protected override byte[] CompletionBody(SimExchange x, ChatRequestView r, ReplyPlan plan, string id) =>
        ToolToCall(x, r) is { } function
            ? OpenAiShapes.ToolCallCompletion(id, r.Model!, "call_" + id, function, ToolArguments, plan)
            : OpenAiShapes.Completion(id, r.Model!, plan, includeUsage: !x.Knobs.Flag("no_usage"), w => WriteCost(w, plan));

    protected override async Task StreamAsync(SimExchange x, ChatRequestView r, ReplyPlan plan, string id)
    {
        await x.StartStreamAsync();
        if (ToolToCall(x, r) is { } function)
        {
            // The call's id and name first, then its arguments in fragments, then the finish, as OpenAI-compatible streams do.
            var pieces = new[] { ToolArguments[..5], ToolArguments[5..], "" };
            for (var i = 0; i < pieces.Length - 1; i++)
            {
                if (!await x.WriteEventAsync(OpenAiShapes.ToolCallChunkEvent(id, r.Model!, i == 0 ? "call_" + id : null, i == 0 ? function : null, pieces[i], null)))
                {
                    return;
                }
            }

            await x.WriteEventAsync(OpenAiShapes.ToolCallChunkEvent(id, r.Model!, null, null, "", "tool_calls"));
            await x.WriteRawAsync(OpenAiShapes.DoneEvent);
            x.Entry.Completed = true;
            return;
        }

        // With n > 1 the choices' chunks interleave, each choice the same answer (index i), as OpenAI-compatible streams do.
        var n = r.Choices;
        byte[] Chunk(int index, string? content, string? finish = null, ReplyPlan? usage = null) =>
            OpenAiShapes.ChunkEvent(id, r.Model!, "assistant", content, finish, choices: true, usage, w => WriteCost(w, plan), index, r.Logprobs);

        // Each choice's text, then (seed 003's sample) an empty chunk and the end-of-sequence marker as content. With n > 1
        // the choices interleave, choice i two chunks behind choice i - 1, as independent generations do: one choice's
        // marker arrives right before another's text.
        var events = plan.Pieces.Concat(x.Knobs.Flag("no_eos") ? [] : ["", "</s>"]).ToList();
        for (var step = 0; step < events.Count + (2 * (n - 1)); step++)
        {
            for (var i = 0; i < n; i++)
            {
                var e = step - (2 * i);
                if (e < 0 || e >= events.Count)
                {
                    continue;
                }

                if (options.Pings)
                {
                    await x.WriteRawAsync(": ping\n\n"u8.ToArray());
                }

                if (!await x.WriteEventAsync(Chunk(i, events[e])))
                {
                    return;
                }
            }
        }

        // The sample carries no usage; asked for (stream_options), it comes on the (last) finish chunk [C/O].
        var sendUsage = r.IncludeUsage && !x.Knobs.Flag("no_usage");
        for (var i = 0; i < n; i++)
        {
            var finishUsage = sendUsage && !options.SeparateUsageChunk && i == n - 1 ? plan : null;
            if (!await x.WriteEventAsync(Chunk(i, "", plan.FinishReason, finishUsage)))
            {
                return;
            }
        }

        if (sendUsage && options.SeparateUsageChunk
            && !await x.WriteEventAsync(OpenAiShapes.ChunkEvent(id, r.Model!, null, null, null, choices: false, plan, w => WriteCost(w, plan))))
        {
            return;
        }

        await x.WriteRawAsync(OpenAiShapes.DoneEvent);
        x.Entry.Completed = true;
    }

    private void WriteCost(Utf8JsonWriter w, ReplyPlan plan) =>
        w.WriteNumber("estimated_cost",
            (plan.PromptTokens * options.InputPricePerMillion + plan.CompletionTokens * options.OutputPricePerMillion) / 1_000_000m);
}
