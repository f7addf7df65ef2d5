namespace Gateway.Metering;

/// <summary>Where usage records end up: Redis (rollups + event stream) or the local journal.</summary>
internal interface IUsageStore
{
    /// <summary>Writes a batch; a record already written (same id) is not counted again.</summary>
    Task WriteAsync(IReadOnlyList<UsageRecord> batch, CancellationToken cancellationToken);

    /// <summary>The rollup cells of the given days.</summary>
    Task<List<(RollupKey Key, RollupTotals Totals)>> ReadRollupsAsync(IEnumerable<string> days, CancellationToken cancellationToken);
}
