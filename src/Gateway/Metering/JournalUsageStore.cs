namespace Gateway.Metering;

/// <summary>
/// Usage without Redis: records are appended to the local journal and rolled up in memory; at
/// start the rollups are rebuilt from the journal, so a restart loses nothing.
/// </summary>
internal sealed class JournalUsageStore : IUsageStore
{
    private readonly Lock _gate = new();
    private readonly UsageJournal _journal;
    private readonly Dictionary<RollupKey, RollupTotals> _rollups = [];
    private readonly HashSet<string> _seen = new(StringComparer.Ordinal);

    public JournalUsageStore(UsageJournal journal, DateOnly oldestKept)
    {
        _journal = journal;
        journal.DeleteOlderThan(oldestKept);
        foreach (var record in journal.ReadDaily())
        {
            Apply(record);
        }
    }

    public Task WriteAsync(IReadOnlyList<UsageRecord> batch, CancellationToken cancellationToken)
    {
        List<UsageRecord> fresh;
        lock (_gate)
        {
            fresh = batch.Where(r => !_seen.Contains(r.Id)).ToList();
        }

        _journal.AppendDaily(fresh);
        lock (_gate)
        {
            foreach (var record in fresh)
            {
                Apply(record);
            }
        }

        return Task.CompletedTask;
    }

    public Task<List<(RollupKey Key, RollupTotals Totals)>> ReadRollupsAsync(IEnumerable<string> days, CancellationToken cancellationToken)
    {
        var wanted = days.ToHashSet(StringComparer.Ordinal);
        lock (_gate)
        {
            return Task.FromResult(_rollups.Where(r => wanted.Contains(r.Key.Day))
                .Select(r => (r.Key, Copy(r.Value))).ToList());
        }
    }

    private void Apply(UsageRecord record)
    {
        if (!_seen.Add(record.Id))
        {
            return;
        }

        var key = RollupKey.Of(record);
        if (!_rollups.TryGetValue(key, out var totals))
        {
            _rollups[key] = totals = new RollupTotals();
        }

        totals.Add(record);
    }

    private static RollupTotals Copy(RollupTotals t)
    {
        var copy = new RollupTotals();
        copy.Add(t);
        return copy;
    }
}
