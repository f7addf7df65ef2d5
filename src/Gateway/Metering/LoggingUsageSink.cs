namespace Gateway.Metering;

/// <summary>Writes each usage record to the log (the default until a durable store is configured).</summary>
internal sealed partial class LoggingUsageSink(ILogger<LoggingUsageSink> logger) : IUsageSink
{
    public void Record(UsageRecord r) => Log.Usage(logger, r.RequestId, r.Key, r.Model, r.Provider, r.PromptTokens, r.CompletionTokens,
        r.Estimated, r.CostMicros, r.Status, r.Outcome, r.Streamed, r.LatencyMs);

    private static partial class Log
    {
        [LoggerMessage(30, LogLevel.Information,
            "usage {RequestId} key={Key} model={Model} provider={Provider} prompt={Prompt} completion={Completion} estimated={Estimated} cost_micros={Cost} status={Status} outcome={Outcome} stream={Stream} latency_ms={Latency}")]
        public static partial void Usage(ILogger logger, string requestId, string key, string model, string? provider, int prompt,
            int completion, bool estimated, long cost, int status, string outcome, bool stream, double latency);
    }
}
