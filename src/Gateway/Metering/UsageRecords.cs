using Gateway.Forwarding;

namespace Gateway.Metering;

/// <summary>Builds the usage record of a finished exchange.</summary>
internal static class UsageRecords
{
    public static UsageRecord From(ChatExchange x, AttemptResult result, int status)
    {
        var (prompt, completion, estimated) = x.FinalUsage();
        var produced = result.Outcome is not (AttemptOutcome.FailedBeforeResponse or AttemptOutcome.Rejected);
        if (!produced)
        {
            // Nothing was generated for the client: nothing to bill.
            (prompt, completion) = (0, 0);
        }

        return new UsageRecord
        {
            RequestId = x.RequestId,
            Key = x.Key.Name,
            Model = x.Route.Name,
            Provider = x.ServedBy?.Provider.Name,
            UpstreamModel = x.ServedBy?.Target.UpstreamModel,
            PromptTokens = prompt,
            CompletionTokens = completion,
            Estimated = estimated && produced,
            CostMicros = x.ServedBy?.Price.CostMicros(prompt, completion) ?? 0,
            ProviderCostMicros = x.ProviderCostMicros,
            Status = status,
            Outcome = result.Outcome switch
            {
                AttemptOutcome.Succeeded => "ok",
                AttemptOutcome.ClientGone => "client_closed",
                AttemptOutcome.FailedDuringResponse => "failed_mid_response",
                _ => result.Error?.Code ?? "failed",
            },
            Streamed = x.Request.IsStreaming,
            LatencyMs = x.Elapsed.TotalMilliseconds,
            TimeToFirstTokenMs = x.TimeToFirstToken?.TotalMilliseconds,
            Timestamp = x.Clock.GetUtcNow(),
        };
    }
}
