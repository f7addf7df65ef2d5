using Gateway.Requests;

namespace Gateway.Metering;

/// <summary>Builds the usage record of a request.</summary>
internal static class UsageRecords
{
    public const string None = UsageRecord.None;

    public static string NewId() => RecordIds.New();

    /// <summary>The record of an exchange that reached a deployment (or was refused on its way there).</summary>
    public static UsageRecord From(ChatExchange x, AttemptResult? result, int status)
    {
        var answer = result?.Answer;
        var produced = answer is not null && result!.Outcome is not (AttemptOutcome.FailedBeforeResponse or AttemptOutcome.Rejected);
        var (prompt, completion, estimated) = produced ? answer!.FinalUsage() : (0, 0, false);
        return new UsageRecord
        {
            Id = x.RecordId,
            RequestId = x.RequestId,
            Key = x.Key.Name,
            KeyId = x.Key.Id,
            Team = x.Key.Limits.Team?.Name,
            Model = x.Route.Name,
            Provider = answer?.ServedBy?.Provider.Name,
            UpstreamModel = answer?.ServedBy?.Target.UpstreamModel,
            PromptTokens = prompt,
            CompletionTokens = completion,
            Estimated = estimated,
            // A cache hit cost nothing at the provider; what it would have cost is saved.
            CostMicros = produced ? answer!.CostMicros() : 0,
            SavedMicros = produced ? answer!.SavedMicros ?? 0 : 0,
            // The provider's own figure whenever it gave one, a charged failure included (the key's cost stays the price of
            // what it received: nothing, for a failure).
            ProviderCostMicros = result?.ProviderCostMicros,
            Status = status,
            Outcome = result?.Outcome switch
            {
                AttemptOutcome.Succeeded when answer?.FromCache == true => UsageRecord.CacheHitOutcome,
                AttemptOutcome.Succeeded => "ok",
                AttemptOutcome.ClientGone => "client_closed",
                // A stream the gateway itself ended (shutdown) says so; any other failure after the first byte is one outcome.
                AttemptOutcome.FailedDuringResponse => result.Error?.Code == "server_shutting_down" ? "server_shutting_down" : "failed_mid_response",
                null => "rejected",
                _ => result.Error?.Code ?? "failed",
            },
            Streamed = x.Request.IsStreaming,
            LatencyMs = Milliseconds(x.Elapsed),
            TimeToFirstTokenMs = answer?.TimeToFirstToken is { } ttft ? Milliseconds(ttft) : null,
            Timestamp = x.Clock.GetUtcNow(),
        };
    }

    /// <summary>The record of a request refused before it had a key and model (bad key, bad body, unknown model).</summary>
    public static UsageRecord Refused(string requestId, Configuration.ClientKey? key, string? model, int status, string outcome, bool streamed,
        TimeSpan latency, DateTimeOffset now) => new()
    {
        Id = NewId(),
        RequestId = requestId,
        Key = key?.Name ?? None,
        KeyId = key?.Id,
        Team = key?.Limits.Team?.Name,
        Model = model ?? None,
        Status = status,
        Outcome = outcome,
        Streamed = streamed,
        LatencyMs = Milliseconds(latency),
        Timestamp = now,
    };

    /// <summary>Durations to 0.01 ms: finer digits are noise, and every record carries two of them.</summary>
    private static double Milliseconds(TimeSpan t) => Math.Round(t.TotalMilliseconds, 2);
}
