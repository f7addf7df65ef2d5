using System.Text;
using System.Text.Json;

namespace ProviderSimulator.Providers;

/// <summary>
/// Hive V3 <c>POST /api/v3/chat/completions</c>: bearer key, <c>{"status_code","message"}</c> errors,
/// max_tokens 1..2048, usage on the last stream chunk, some models stream-only, 400 for a model it does not serve.
/// </summary>
public sealed class HiveV3Provider(RequestLog log, Func<Directives> runFaults, HiveV3Options options, bool acceptUndocumented)
    : OpenAiLikeProvider(log, runFaults, acceptUndocumented)
{
    // Seed 001 lists model, max_tokens and messages; Hive's own docs add temperature, top_p and stream ([C], no ranges given).
    protected override IReadOnlySet<string> DocumentedFields { get; } = new HashSet<string>(StringComparer.Ordinal)
    {
        "model", "max_tokens", "messages", "temperature", "top_p", "stream",
    };

    public override string Name => "hive-v3";

    protected override bool IsAuthorized(HttpRequest request) =>
        request.Headers.Authorization.ToString() == "Bearer " + options.ApiKey;

    protected override (byte[] Body, string ContentType) ErrorBody(int status, string message) =>
        (JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, object> { ["status_code"] = status, ["message"] = message }),
            "application/json");

    protected override (int Status, string Message)? Validate(ChatRequestView r, string? slug)
    {
        if (r.Model is null || !options.Models.Contains(r.Model))
        {
            return (400, $"Model '{r.Model}' is not supported");
        }

        if (r.MaxTokens is < 1 or > 2048)
        {
            return (400, "max_tokens must be between 1 and 2048");
        }


        if (!r.Stream && options.StreamOnlyModels.Contains(r.Model))
        {
            return (400, "This model only supports streaming (stream: true)");
        }

        if (r.Messages.Exists(m => m.Role is not ("system" or "user" or "assistant")))
        {
            return (400, "role must be system, user or assistant");
        }

        return null;
    }

    protected override byte[] CompletionBody(SimExchange x, ChatRequestView r, ReplyPlan plan, string id) =>
        OpenAiShapes.Completion(id, r.Model!, plan, includeUsage: !x.Knobs.Flag("no_usage"));

    protected override async Task StreamAsync(SimExchange x, ChatRequestView r, ReplyPlan plan, string id)
    {
        await x.StartStreamAsync();
        for (var i = 0; i < plan.Pieces.Count; i++)
        {
            var e = OpenAiShapes.ChunkEvent(id, r.Model!, i == 0 ? "assistant" : null, plan.Pieces[i], null, choices: true, usage: null);
            if (!await x.WriteEventAsync(e))
            {
                return;
            }
        }

        var usage = x.Knobs.Flag("no_usage") ? null : plan;
        if (!await x.WriteEventAsync(OpenAiShapes.ChunkEvent(id, r.Model!, null, null, plan.FinishReason, choices: true, usage)))
        {
            return;
        }

        await x.WriteRawAsync(OpenAiShapes.DoneEvent);
        x.Entry.Completed = true;
    }
}
