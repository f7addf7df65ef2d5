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

    // Ids of recent records, so a replayed batch is not counted twice. Bounded: duplicates only ever come from a
    // replay shortly after the write (a spill), never from long ago.
    private const int SeenCapacity = 100_000;
    private readonly HashSet<string> _seen = new(StringComparer.Ordinal);
    private readonly Queue<string> _seenOrder = new();
    private readonly int _retentionDays;
    private DateOnly _prunedOn;

    public JournalUsageStore(UsageJournal journal, DateOnly oldestKept, int retentionDays)
    {
        _journal = journal;
        _retentionDays = retentionDays;
        _prunedOn = oldestKept.AddDays(retentionDays);
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

            PruneDaily();
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

    /// <summary>Once a day, while running: days past the retention leave the journal and the rollups.</summary>
    private void PruneDaily()
    {
        var today = DateOnly.FromDateTime(DateTime.UtcNow);
        if (today <= _prunedOn)
        {
            return;
        }

        _prunedOn = today;
        var oldestKept = today.AddDays(-_retentionDays);
        _journal.DeleteOlderThan(oldestKept);
        var cutoff = oldestKept.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture);
        foreach (var key in _rollups.Keys.Where(k => string.CompareOrdinal(k.Day, cutoff) < 0).ToList())
        {
            _rollups.Remove(key);
        }
    }

    private void Apply(UsageRecord record)
    {
        if (!_seen.Add(record.Id))
        {
            return;
        }

        _seenOrder.Enqueue(record.Id);
        if (_seenOrder.Count > SeenCapacity)
        {
            _seen.Remove(_seenOrder.Dequeue());
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
