namespace Gateway.Metering;

/// <summary>gateway.json <c>Metering</c>; read at start-up.</summary>
internal sealed class MeteringSettings
{
    /// <summary>Where the journal (no Redis) and the spill (Redis unreachable) live.</summary>
    public string JournalDirectory { get; set; } = "data/usage";

    /// <summary>Days of usage rollups kept (what <c>/v1/usage</c> can answer for); older ones are deleted.</summary>
    public int RetentionDays { get; set; } = 400;

    /// <summary>Without Redis: days of per-request records kept in the journal (their rollups stay for <see cref="RetentionDays"/>).</summary>
    public int RecordRetentionDays { get; set; } = 30;

    /// <summary>
    /// Without Redis: the most disk the journal's per-request records may take; past it the oldest finished
    /// segments are deleted first (their rollups stay). The day's open file is never deleted; it is sealed and
    /// compressed every <see cref="JournalSegmentBytes"/>.
    /// </summary>
    public long JournalMaxBytes { get; set; } = 1L << 30;

    /// <summary>Without Redis: the size at which the open file is sealed and compressed.</summary>
    public long JournalSegmentBytes { get; set; } = 64L << 20;

    /// <summary>Approximate cap on the Redis event stream (XADD MAXLEN ~).</summary>
    public long StreamMaxLength { get; set; } = 1_000_000;

    /// <summary>Records waiting in memory for the store; beyond it they go straight to the spill file.</summary>
    public int BufferCapacity { get; set; } = 10_000;
}
