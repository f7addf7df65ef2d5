using Gateway.Requests;
namespace Gateway.Metering;

/// <summary>Where usage records end up: Redis (rollups + event stream) or the local journal.</summary>
internal interface IUsageStore
{
    /// <summary>Writes a batch; a record already written (same id) is not counted again.</summary>
    Task WriteAsync(IReadOnlyList<UsageRecord> batch, CancellationToken cancellationToken);

    /// <summary>
    /// Hands every rollup cell of the given periods that <paramref name="scope"/> may see to <paramref name="take"/>, one
    /// period at a time: nothing holds more than a period's cells, however long the range.
    /// </summary>
    Task ReadRollupsAsync(IEnumerable<string> periods, UsageScope scope, Action<RollupKey, RollupTotals> take, CancellationToken cancellationToken);
}

/// <summary>
/// Whose rollups a read touches: one key's own (by its identity, so a reused name sees nothing of the key that had it
/// before; the store reads only that key's rollups), or every key's (<see cref="Everyone"/>, admins).
/// </summary>
internal readonly record struct UsageScope(string? KeyId, string? KeyName)
{
    public static readonly UsageScope Everyone = default;

    public bool IsOwn => KeyId is not null;

    public static UsageScope Own(Configuration.ClientKey key) => new(key.Id, key.Name);
}
