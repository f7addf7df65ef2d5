using Gateway.Requests;
namespace Gateway.Metering;

/// <summary>
/// Usage without Redis: records are appended to the local journal and rolled up in memory. Off the write path,
/// finished files are sealed, compressed and summed up into a rollup file per day; per-request records then go when
/// they pass <see cref="MeteringSettings.RecordRetentionDays"/> or the journal passes
/// <see cref="MeteringSettings.JournalMaxBytes"/>, while the rollups stay for <see cref="MeteringSettings.RetentionDays"/>.
/// At start the rollups are rebuilt from the rollup files and the segments they do not cover, so a restart loses
/// nothing and reads only what is recent.
/// </summary>
internal sealed partial class JournalUsageStore : IUsageStore, IDisposable
{
    // Records of a day may still arrive this long after it ends (a long request is recorded when it ends).
    private static readonly TimeSpan LateRecords = TimeSpan.FromMinutes(15);
    // Often enough that the open file cannot outgrow a segment by much (at 8,000 requests a second it takes ~3 MB a second).
    private static readonly TimeSpan MaintenanceInterval = TimeSpan.FromSeconds(10);

    private readonly Lock _gate = new();
    private readonly UsageJournal _journal;
    private readonly MeteringSettings _settings;
    private readonly TimeProvider _clock;
    private readonly ILogger<JournalUsageStore> _logger;
    private readonly Dictionary<RollupKey, RollupTotals> _rollups = [];

    // Ids of recent records, so a replayed batch is not counted twice. Bounded: duplicates only ever come from a
    // replay shortly after the write (a spill), never from long ago.
    private const int SeenCapacity = 100_000;
    private readonly HashSet<string> _seen = new(StringComparer.Ordinal);
    private readonly Queue<string> _seenOrder = new();

    private DateTimeOffset _nextMaintenance;
    private int _maintaining;
    private Task _maintenance = Task.CompletedTask;
    private bool _warnedOpenTooLarge;

    public JournalUsageStore(UsageJournal journal, MeteringSettings settings, TimeProvider clock, ILogger<JournalUsageStore> logger)
    {
        _journal = journal;
        _settings = settings;
        _clock = clock;
        _logger = logger;
        journal.DeleteOlderThan(OldestRollupKept());
        var covered = new HashSet<string>(StringComparer.Ordinal);
        foreach (var day in JournalFiles.RollupDays(journal.Directory))
        {
            if (JournalFiles.ReadRollup(journal.Directory, day) is not { } rollup)
            {
                continue;
            }

            covered.UnionWith(rollup.Segments);
            foreach (var cell in rollup.Cells)
            {
                Totals(new RollupKey(day, cell.Key, cell.Model, cell.Provider, cell.Team ?? RollupKey.NoTeam)).Add(RollupTotals.From(cell.Values));
            }
        }

        foreach (var segment in JournalFiles.List(journal.Directory).Where(s => !covered.Contains(s.Name)))
        {
            foreach (var record in UsageJournal.Read(segment.Path))
            {
                Apply(record);
            }
        }

        // What an earlier run left to seal, compress or delete is done in the background: readiness does not wait.
        _nextMaintenance = clock.GetUtcNow();
    }

    public Task WriteAsync(IReadOnlyList<UsageRecord> batch, CancellationToken cancellationToken)
    {
        // One writer (the usage pipeline), so holding the lock across the append costs nothing, and keeps the rollups
        // and the files in step for Finish below.
        lock (_gate)
        {
            var fresh = batch.Where(r => !_seen.Contains(r.Id)).ToList();
            _journal.AppendDaily(fresh);
            foreach (var record in fresh)
            {
                Apply(record);
            }
        }

        MaybeMaintain();
        return Task.CompletedTask;
    }

    /// <remarks>
    /// The rollups are in this process's memory already; a key's own view is filtered here by name (one instance,
    /// configured by one operator: a name reused for another key does share its history in this mode).
    /// </remarks>
    public Task ReadRollupsAsync(IEnumerable<string> periods, UsageScope scope, Action<RollupKey, RollupTotals> take, CancellationToken cancellationToken)
    {
        var wanted = periods.ToHashSet(StringComparer.Ordinal);
        lock (_gate)
        {
            foreach (var (key, totals) in _rollups)
            {
                if (wanted.Contains(key.Day) && (!scope.IsOwn || key.Key == scope.KeyName))
                {
                    take(key, Copy(totals));
                }
            }
        }

        return Task.CompletedTask;
    }

    /// <summary>Waits for a maintenance pass in progress (tests, shutdown).</summary>
    public Task MaintenanceDone => Volatile.Read(ref _maintenance);

    /// <summary>Runs a maintenance pass now and waits for it (tests).</summary>
    internal async Task MaintainNowAsync()
    {
        await MaintenanceDone;
        _nextMaintenance = DateTimeOffset.MinValue;
        MaybeMaintain();
        await MaintenanceDone;
    }

    public void Dispose() => MaintenanceDone.Wait(TimeSpan.FromSeconds(30));

    private void MaybeMaintain()
    {
        var now = _clock.GetUtcNow();
        if (now < _nextMaintenance || Interlocked.Exchange(ref _maintaining, 1) == 1)
        {
            return;
        }

        _nextMaintenance = now + MaintenanceInterval;
        // A thread of its own, not a thread-pool worker: compressing a 64 MB segment takes seconds of CPU, and a replica
        // limited to one CPU has a pool of one or two workers. Holding one stalled every request until the pool added a
        // worker (half a second, bench/throughput.sh stream arm: p99 400 ms); on its own thread it only shares the CPU.
        Volatile.Write(ref _maintenance, Task.Factory.StartNew(() =>
        {
            try
            {
                LastPassOnThreadPool = Thread.CurrentThread.IsThreadPoolThread;
                Maintain();
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or System.Text.Json.JsonException)
            {
                Log.MaintenanceFailed(_logger, ex.Message);
            }
            finally
            {
                Volatile.Write(ref _maintaining, 0);
            }
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default));
    }

    /// <summary>Whether the last maintenance pass ran on a thread-pool worker (tests: it must not hold one).</summary>
    internal bool LastPassOnThreadPool { get; private set; }

    private void Maintain()
    {
        var now = _clock.GetUtcNow().UtcDateTime;
        var today = DateOnly.FromDateTime(now);
        var segments = JournalFiles.List(_journal.Directory);

        // 1. Finish: a past day's open file once late records are unlikely, an open file grown past a segment, and
        //    anything an earlier run left sealed but not compressed.
        var finishing = segments.Where(s => s.State == SegmentState.Sealed
                || (s.State == SegmentState.Open && (s.Bytes >= _settings.JournalSegmentBytes
                    || JournalFiles.ParseDay(s.Day)!.Value.AddDays(1).ToDateTime(TimeOnly.MinValue) + LateRecords <= now)))
            .Select(s => s.Day).Distinct().ToList();
        foreach (var day in finishing)
        {
            Finish(day);
        }

        // 2. Per-request records past their retention or beyond the size cap go, oldest first; their rollups stay.
        segments = JournalFiles.List(_journal.Directory);
        var total = segments.Sum(s => s.Bytes);
        var oldestRecordKept = today.AddDays(-Math.Max(0, _settings.RecordRetentionDays));
        var covered = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
        foreach (var segment in segments.Where(s => s.State == SegmentState.Compressed))
        {
            if (total <= _settings.JournalMaxBytes && JournalFiles.ParseDay(segment.Day) >= oldestRecordKept)
            {
                break;
            }

            if (!covered.TryGetValue(segment.Day, out var names))
            {
                covered[segment.Day] = names = [.. JournalFiles.ReadRollup(_journal.Directory, segment.Day)?.Segments ?? []];
            }

            if (names.Contains(segment.Name))
            {
                _journal.DeleteSegment(segment.Name);
                total -= segment.Bytes;
            }
        }

        if (total > _settings.JournalMaxBytes && !_warnedOpenTooLarge)
        {
            _warnedOpenTooLarge = true;
            Log.OverCap(_logger, total, _settings.JournalMaxBytes);
        }

        // 3. Rollups past their retention go, from disk and from memory.
        var oldestRollupKept = OldestRollupKept();
        _journal.DeleteOlderThan(oldestRollupKept);
        var cutoff = oldestRollupKept.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture);
        var hourCutoff = today.AddDays(1 - UsageQuery.HourlyDays).ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture);
        lock (_gate)
        {
            foreach (var key in _rollups.Keys.Where(k => string.CompareOrdinal(k.Day, k.IsHour ? hourCutoff : cutoff) < 0).ToList())
            {
                _rollups.Remove(key);
            }
        }
    }

    /// <summary>
    /// Seals the day's open file and writes the day's rollup file listing every segment of the day, all in one step
    /// with the in-memory rollups (so the file's cells are exactly the listed segments' records), then compresses.
    /// </summary>
    private void Finish(string day)
    {
        var previous = JournalFiles.ReadRollup(_journal.Directory, day)?.Segments ?? [];
        DayRollup rollup;
        lock (_gate)
        {
            _journal.Seal(day);
            var names = previous.Concat(JournalFiles.List(_journal.Directory).Where(s => s.Day == day && s.State != SegmentState.Open).Select(s => s.Name))
                .Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
            var cells = _rollups.Where(r => r.Key.Day == day)
                .Select(r => new RollupCell(r.Key.Key, r.Key.Model, r.Key.Provider, r.Value.Values(), r.Key.Team == RollupKey.NoTeam ? null : r.Key.Team))
                .ToList();
            rollup = new DayRollup(day, names, cells);
        }

        foreach (var segment in JournalFiles.List(_journal.Directory).Where(s => s.Day == day && s.State == SegmentState.Sealed))
        {
            JournalFiles.Compress(_journal.Directory, segment);
        }

        JournalFiles.WriteRollup(_journal.Directory, rollup);
    }

    private DateOnly OldestRollupKept() => DateOnly.FromDateTime(_clock.GetUtcNow().UtcDateTime).AddDays(-_settings.RetentionDays);

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

        Totals(RollupKey.Of(record)).Add(record);
        // Hourly cells live in memory only: rebuilt at start from the segments no rollup file covers yet.
        Totals(RollupKey.HourOf(record)).Add(record);
    }

    private RollupTotals Totals(RollupKey key)
    {
        if (!_rollups.TryGetValue(key, out var totals))
        {
            _rollups[key] = totals = new RollupTotals();
        }

        return totals;
    }

    private static RollupTotals Copy(RollupTotals t)
    {
        var copy = new RollupTotals();
        copy.Add(t);
        return copy;
    }

    private static partial class Log
    {
        [LoggerMessage(93, LogLevel.Warning, "Usage journal maintenance failed ({Reason}); tried again in 10 seconds")]
        public static partial void MaintenanceFailed(ILogger logger, string reason);

        [LoggerMessage(94, LogLevel.Warning,
            "Usage journal holds {Bytes} bytes, over Metering:JournalMaxBytes ({Cap}) with nothing finished left to delete: " +
            "today's open file is larger than the cap; raise the cap or lower Metering:JournalSegmentBytes")]
        public static partial void OverCap(ILogger logger, long bytes, long cap);
    }
}
