namespace Gateway.Metering;

/// <summary>What one request consumed and how it ended; one record per request, whatever the outcome.</summary>
internal sealed record UsageRecord
{
    public required string RequestId { get; init; }
    public required string Key { get; init; }
    public required string Model { get; init; }
    public string? Provider { get; init; }
    public string? UpstreamModel { get; init; }
    public int PromptTokens { get; init; }
    public int CompletionTokens { get; init; }

    /// <summary>True when the counts are the gateway's estimate because the provider reported none.</summary>
    public bool Estimated { get; init; }

    public long CostMicros { get; init; }
    public long? ProviderCostMicros { get; init; }
    public int Status { get; init; }
    public required string Outcome { get; init; }
    public bool Streamed { get; init; }
    public double LatencyMs { get; init; }
    public double? TimeToFirstTokenMs { get; init; }
    public DateTimeOffset Timestamp { get; init; }
}

/// <summary>Receives usage records; implementations must not block the request path.</summary>
internal interface IUsageSink
{
    void Record(UsageRecord record);
}
