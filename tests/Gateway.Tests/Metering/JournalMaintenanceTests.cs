using Gateway.Tests.Infrastructure;
using System.Text;
using Gateway.Metering;
using Gateway.Requests;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gateway.Tests.Metering;

/// <summary>
/// The journal without Redis stays bounded on disk and exact across restarts: finished files are sealed, compressed
/// and rolled up; per-request records go by retention and size cap while their rollups stay; a crash between any
/// two steps counts nothing twice and loses nothing.
/// </summary>
public sealed class JournalMaintenanceTests : IDisposable
{
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("gateway-journal-");
    private readonly Clock _clock = new(new DateTimeOffset(2026, 11, 10, 12, 0, 0, TimeSpan.Zero));
    private readonly List<IDisposable> _open = [];

    public void Dispose()
    {
        foreach (var d in _open)
        {
            d.Dispose();
        }

        _directory.Delete(recursive: true);
    }

    [Fact]
    public async Task FinishedDay_IsCompressedAndRolledUp_AndARestartCountsItOnce()
    {
        var store = Open();
        await WriteAsync(store, Day(-1), 300);
        await WriteAsync(store, Day(0), 20);
        await store.MaintainNowAsync();

        var yesterday = Day(-1).ToString("yyyy-MM-dd");
        Assert.False(File.Exists(Path.Combine(_directory.FullName, $"usage-{yesterday}.jsonl")));
        // The first pass may have run while the day was being written (it starts with the first write): one or more segments.
        var compressed = Directory.GetFiles(_directory.FullName, $"usage-{yesterday}.*.jsonl.gz");
        Assert.NotEmpty(compressed);
        Assert.True(File.Exists(Path.Combine(_directory.FullName, $"rollup-{yesterday}.json")));
        Assert.Equal(300, compressed.Sum(f => UsageJournal.Read(f).Count()));
        // Today's file is still being written: left open.
        Assert.True(File.Exists(Path.Combine(_directory.FullName, $"usage-{Day(0):yyyy-MM-dd}.jsonl")));

        var restarted = Open();
        Assert.Equal((300L, 300L * 12), await TotalsAsync(restarted, Day(-1)));
        Assert.Equal((20L, 20L * 12), await TotalsAsync(restarted, Day(0)));
    }

    [Fact]
    public async Task SizeCap_DeletesTheOldestRecords_ButTheirUsageStays()
    {
        var store = Open(s => s.JournalMaxBytes = 1);
        await WriteAsync(store, Day(-3), 200);
        await WriteAsync(store, Day(-2), 200);
        await WriteAsync(store, Day(0), 50);
        await store.MaintainNowAsync();

        // Every finished segment went (the cap is below anything); today's open file stays.
        Assert.Empty(Directory.GetFiles(_directory.FullName, "usage-*.jsonl.gz"));
        Assert.Single(Directory.GetFiles(_directory.FullName, "usage-*.jsonl"));

        var restarted = Open(s => s.JournalMaxBytes = 1);
        Assert.Equal((200L, 200L * 12), await TotalsAsync(restarted, Day(-3)));
        Assert.Equal((200L, 200L * 12), await TotalsAsync(restarted, Day(-2)));
        Assert.Equal((50L, 50L * 12), await TotalsAsync(restarted, Day(0)));
    }

    [Fact]
    public async Task RecordRetention_DeletesOldRecords_AndRollupRetention_OldUsage()
    {
        var store = Open(s => { s.RecordRetentionDays = 5; s.RetentionDays = 20; });
        await WriteAsync(store, Day(-30), 10);
        await WriteAsync(store, Day(-10), 10);
        await WriteAsync(store, Day(-2), 10);
        await store.MaintainNowAsync();

        var files = Directory.GetFiles(_directory.FullName).Select(Path.GetFileName).ToList();
        Assert.DoesNotContain(files, f => f!.Contains(Day(-30).ToString("yyyy-MM-dd")));
        Assert.DoesNotContain(files, f => f!.StartsWith($"usage-{Day(-10):yyyy-MM-dd}", StringComparison.Ordinal));
        Assert.Contains($"rollup-{Day(-10):yyyy-MM-dd}.json", files);
        Assert.Single(files, f => f!.StartsWith($"usage-{Day(-2):yyyy-MM-dd}.", StringComparison.Ordinal) && f.EndsWith(".gz", StringComparison.Ordinal));

        var restarted = Open(s => { s.RecordRetentionDays = 5; s.RetentionDays = 20; });
        Assert.Equal((0L, 0L), await TotalsAsync(restarted, Day(-30)));
        Assert.Equal((10L, 120L), await TotalsAsync(restarted, Day(-10)));
        Assert.Equal((10L, 120L), await TotalsAsync(restarted, Day(-2)));
    }

    [Fact]
    public async Task LateRecords_AfterTheDayWasFinished_AreCountedOnce()
    {
        var store = Open();
        await WriteAsync(store, Day(-1), 40);
        await store.MaintainNowAsync();
        await WriteAsync(store, Day(-1), 3);

        // Before and after the late file is finished in its turn.
        Assert.Equal((43L, 43L * 12), await TotalsAsync(Open(), Day(-1)));
        _clock.Now += TimeSpan.FromMinutes(2);
        await store.MaintainNowAsync();
        Assert.Empty(Directory.GetFiles(_directory.FullName, "usage-*.jsonl"));
        Assert.Equal(43, Directory.GetFiles(_directory.FullName, "usage-*.jsonl.gz").Sum(f => UsageJournal.Read(f).Count()));
        Assert.Equal((43L, 43L * 12), await TotalsAsync(Open(), Day(-1)));
    }

    /// <summary>
    /// Compressing a segment takes seconds of CPU at the default size; on a thread-pool worker it left a one-CPU
    /// replica without workers for requests until the pool added one (a half-second stall of every request).
    /// </summary>
    [Fact]
    public async Task Maintenance_DoesNotHoldAThreadPoolWorker()
    {
        var store = Open(s => s.JournalSegmentBytes = 4096);
        await WriteAsync(store, Day(0), 100);
        await store.MaintainNowAsync();

        Assert.NotEmpty(Directory.GetFiles(_directory.FullName, "usage-*.jsonl.gz"));
        Assert.False(store.LastPassOnThreadPool);
    }

    [Fact]
    public async Task OpenFilePastASegment_IsSealedAndCompressedToday()
    {
        var store = Open(s => s.JournalSegmentBytes = 4096);
        await WriteAsync(store, Day(0), 100);
        await store.MaintainNowAsync();
        await WriteAsync(store, Day(0), 5);

        var compressed = Directory.GetFiles(_directory.FullName, "usage-*.jsonl.gz");
        Assert.NotEmpty(compressed);
        var records = compressed.Sum(f => UsageJournal.Read(f).Count());
        Assert.True(records >= 100 - 64, $"{records} records sealed");
        Assert.True(compressed.Sum(f => new FileInfo(f).Length) * 5 < records * 200, "compressed to well under the records' size");
        Assert.Equal((105L, 105L * 12), await TotalsAsync(Open(s => s.JournalSegmentBytes = 4096), Day(0)));
    }

    [Fact]
    public async Task CrashLeftovers_AreResolved_WithoutCountingTwice()
    {
        var store = Open();
        await WriteAsync(store, Day(-1), 30);
        await store.MaintainNowAsync();
        var compressed = Directory.GetFiles(_directory.FullName, "usage-*.jsonl.gz").Order(StringComparer.Ordinal).Last();
        var name = compressed[..^".jsonl.gz".Length];
        // A crash after the compressed copy was renamed into place but before the original was deleted; and one
        // mid-write of a compressed copy; and before the rollup was written.
        await File.WriteAllLinesAsync(name + ".jsonl.sealed", UsageJournal.Read(compressed).Select(r =>
            System.Text.Json.JsonSerializer.Serialize(r, UsageJson.Default.UsageRecord)));
        await File.WriteAllTextAsync(compressed + ".tmp", "partial");
        File.Delete(Path.Combine(_directory.FullName, $"rollup-{Day(-1):yyyy-MM-dd}.json"));

        var restarted = Open();
        Assert.Equal((30L, 30L * 12), await TotalsAsync(restarted, Day(-1)));
        Assert.False(File.Exists(name + ".jsonl.sealed"));
        Assert.False(File.Exists(compressed + ".tmp"));
    }

    [Fact]
    public void Records_AreCompact_AndOlderLinesStillRead()
    {
        var record = Record(new DateTimeOffset(2026, 11, 30, 5, 6, 48, 884, TimeSpan.Zero).AddTicks(3862), "abc");
        var line = System.Text.Json.JsonSerializer.Serialize(record, UsageJson.Default.UsageRecord);
        Assert.Contains("\"timestamp\":\"2026-11-30T05:06:48.884Z\"", line);
        Assert.DoesNotContain("\"estimated\"", line);
        Assert.DoesNotContain("\"streamed\"", line);
        Assert.DoesNotContain("\"count\"", line);

        const string older = """{"id":"x1","request_id":"req_1","key":"k","model":"m","provider":"p","prompt_tokens":3,"completion_tokens":4,"estimated":false,"cost_micros":12,"status":200,"outcome":"ok","streamed":false,"latency_ms":322.0187,"timestamp":"2026-11-30T05:06:48.8843862+00:00"}""";
        var path = Path.Combine(_directory.FullName, "older.jsonl");
        File.WriteAllText(path, older + "\n" + line + "\n", Encoding.UTF8);
        var read = UsageJournal.Read(path).ToList();
        Assert.Equal(2, read.Count);
        Assert.Equal(new DateTimeOffset(2026, 11, 30, 5, 6, 48, TimeSpan.Zero).AddTicks(8843862), read[0].Timestamp);
        Assert.Equal(record.Timestamp.AddTicks(-3862), read[1].Timestamp);
        Assert.Equal(12, read[1].CostMicros);
        Assert.False(read[1].Estimated);
    }

    private JournalUsageStore Open(Action<MeteringSettings>? configure = null)
    {
        var settings = new MeteringSettings { JournalDirectory = _directory.FullName };
        configure?.Invoke(settings);
        var journal = new UsageJournal(_directory.FullName);
        var store = new JournalUsageStore(journal, settings, _clock, NullLogger<JournalUsageStore>.Instance);
        _open.Add(store);
        _open.Add(journal);
        return store;
    }

    private DateOnly Day(int offset) => DateOnly.FromDateTime(_clock.Now.UtcDateTime).AddDays(offset);

    private static async Task WriteAsync(JournalUsageStore store, DateOnly day, int count)
    {
        var at = new DateTimeOffset(day.ToDateTime(new TimeOnly(10, 0)), TimeSpan.Zero);
        var records = Enumerable.Range(0, count).Select(_ => Record(at, Guid.NewGuid().ToString("N"))).ToList();
        foreach (var batch in records.Chunk(64))
        {
            await store.WriteAsync(batch, CancellationToken.None);
        }
    }

    private static UsageRecord Record(DateTimeOffset at, string id) => new()
    {
        Id = id, RequestId = "req_" + id, Key = "team", Model = "llama", Provider = "deepinfra", UpstreamModel = "meta-llama/Meta-Llama-3.1-8B-Instruct",
        PromptTokens = 12, CompletionTokens = 10, CostMicros = 12, ProviderCostMicros = 9, Status = 200, Outcome = "ok",
        LatencyMs = 4.25, TimeToFirstTokenMs = 3.5, Timestamp = at,
    };

    private static async Task<(long Requests, long Cost)> TotalsAsync(JournalUsageStore store, DateOnly day)
    {
        var cells = await ((IUsageStore)store).ReadAllAsync([day.ToString("yyyy-MM-dd")]);
        return (cells.Sum(c => c.Totals.Requests), cells.Sum(c => c.Totals.CostMicros));
    }

    private sealed class Clock(DateTimeOffset now) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = now;

        public override DateTimeOffset GetUtcNow() => Now;
    }
}
