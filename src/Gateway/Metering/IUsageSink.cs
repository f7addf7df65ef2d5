namespace Gateway.Metering;

/// <summary>Receives usage records; never blocks the request path.</summary>
internal interface IUsageSink
{
    void Record(UsageRecord record);

    /// <summary>
    /// Counts a request refused before it had a valid key: kept as one aggregate per day and outcome, never as a
    /// record of its own, so anonymous traffic cannot fill the disk, memory or Redis.
    /// </summary>
    void CountAnonymous(UsageRecord refusal);
}
