namespace Gateway.Metering;

/// <summary>gateway.json <c>Metering</c>; read at start-up.</summary>
internal sealed class MeteringSettings
{
    /// <summary>Where the journal (no Redis) and the spill (Redis unreachable) live.</summary>
    public string JournalDirectory { get; set; } = "data/usage";

    /// <summary>Days of rollups and journal kept; older ones are deleted.</summary>
    public int RetentionDays { get; set; } = 400;

    /// <summary>Approximate cap on the Redis event stream (XADD MAXLEN ~).</summary>
    public long StreamMaxLength { get; set; } = 1_000_000;

    /// <summary>Records waiting in memory for the store; beyond it they go straight to the spill file.</summary>
    public int BufferCapacity { get; set; } = 10_000;
}
