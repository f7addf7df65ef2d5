using System.Threading.Channels;
using Gateway.Telemetry;
using Gateway.Requests;

namespace Gateway.Metering;

/// <summary>
/// Takes usage records off the request path: <see cref="Record"/> never blocks. A background loop
/// writes them to the store in batches; when the store fails (Redis down) or the buffer is full,
/// records go to the local spill journal and are replayed when the store is back. Shutdown
/// drains the buffer. Nothing accepted is lost.
/// </summary>
internal sealed partial class UsagePipeline : BackgroundService, IHostedLifecycleService, IUsageSink
{
    private const int BatchSize = 200;
    private static readonly TimeSpan ReplayInterval = TimeSpan.FromSeconds(1);

    // After writing a batch that did not fill, the loop waits this long for more before the next one: under load the
    // store is written ~50 times a second in full batches instead of once or twice per request (each write a wake-up of
    // this loop, a lock and a file write or a Redis call), and a record waits at most this long longer.
    private static readonly TimeSpan Linger = TimeSpan.FromMilliseconds(20);

    private readonly Channel<UsageRecord> _buffer;
    private readonly IUsageStore _store;
    private readonly UsageJournal _journal;
    private readonly ILogger<UsagePipeline> _logger;
    private readonly GatewayMetrics _metrics;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<RefusalCell, long> _refusals = new();

    /// <summary>What refusals are aggregated by; the set of cells is bounded by keys x models x outcomes (unknown models are (none)).</summary>
    private readonly record struct RefusalCell(string Day, string Key, string? KeyId, string Model, string Outcome, int Status);

    public UsagePipeline(IUsageStore store, UsageJournal journal, MeteringSettings settings, GatewayMetrics metrics, ILogger<UsagePipeline> logger)
    {
        _store = store;
        _journal = journal;
        _logger = logger;
        _buffer = Channel.CreateBounded<UsageRecord>(new BoundedChannelOptions(settings.BufferCapacity)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
        _metrics = metrics;
    }

    /// <summary>Records waiting in memory for the store.</summary>
    public int BufferDepth => _buffer.Reader.Count;

    /// <summary>Bytes waiting in the spill files for the store to come back.</summary>
    public long SpillBytes => _journal.SpillBytes();

    public void CountRefusal(UsageRecord refusal) =>
        _refusals.AddOrUpdate(new RefusalCell(refusal.Day, refusal.Key, refusal.KeyId, refusal.Model, refusal.Outcome, refusal.Status), 1, static (_, n) => n + 1);

    /// <summary>The refusals counted since the last call, as one aggregate record per cell.</summary>
    private List<UsageRecord> TakeRefusals()
    {
        var records = new List<UsageRecord>();
        foreach (var cell in _refusals.Keys)
        {
            if (_refusals.TryRemove(cell, out var n) && n > 0)
            {
                records.Add(new UsageRecord
                {
                    Id = UsageRecords.NewId(), RequestId = "(aggregate)", Key = cell.Key, KeyId = cell.KeyId, Model = cell.Model,
                    Status = cell.Status, Outcome = cell.Outcome, Count = n,
                    Timestamp = DateTimeOffset.ParseExact(cell.Day, "yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AssumeUniversal),
                });
            }
        }

        return records;
    }

    public void Record(UsageRecord record)
    {
        if (!_buffer.Writer.TryWrite(record))
        {
            // Buffer full (the store is slow or down) or shutting down: straight to disk.
            Spill([record]);
        }
    }

    private readonly TaskCompletionSource _initialReplay = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes once what an earlier run spilled has been offered to the store (readiness waits for it).</summary>
    public Task InitialReplay => _initialReplay.Task;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await ReplaySpillsAsync(stoppingToken);
        }
        finally
        {
            _initialReplay.TrySetResult();
        }

        var batch = new List<UsageRecord>(BatchSize);
        var nextReplay = DateTime.UtcNow + ReplayInterval;
        // One timeout per replay interval, not one per wake-up: it ends the wait of an idle loop so the spill is looked at.
        var wait = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        wait.CancelAfter(ReplayInterval);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                if (await _buffer.Reader.WaitToReadAsync(wait.Token))
                {
                    while (batch.Count < BatchSize && _buffer.Reader.TryRead(out var record))
                    {
                        batch.Add(record);
                    }

                    var full = batch.Count == BatchSize;
                    await WriteOrSpillAsync(batch, stoppingToken);
                    batch.Clear();
                    if (!full)
                    {
                        await Task.Delay(Linger, stoppingToken);
                    }
                }
            }
            catch (OperationCanceledException) when (!stoppingToken.IsCancellationRequested)
            {
                // Idle tick: time to look at the spill.
            }
            catch (OperationCanceledException)
            {
                break;
            }

            if (wait.IsCancellationRequested)
            {
                wait.Dispose();
                wait = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
                wait.CancelAfter(ReplayInterval);
            }

            if (DateTime.UtcNow >= nextReplay)
            {
                if (TakeRefusals() is { Count: > 0 } refusals)
                {
                    await WriteOrSpillAsync(refusals, stoppingToken);
                }

                SyncJournal();
                await ReplaySpillsAsync(stoppingToken);
                nextReplay = DateTime.UtcNow + ReplayInterval;
            }
        }

        wait.Dispose();
    }

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>
    /// Runs after the web host has let every request go (so their records are in the buffer by now): drains what is
    /// still buffered, to the store if it answers, else to the spill.
    /// </summary>
    public async Task StoppedAsync(CancellationToken cancellationToken)
    {
        _buffer.Writer.TryComplete();
        var rest = TakeRefusals();
        while (_buffer.Reader.TryRead(out var record))
        {
            rest.Add(record);
        }

        for (var i = 0; i < rest.Count; i += BatchSize)
        {
            await WriteOrSpillAsync(rest.GetRange(i, Math.Min(BatchSize, rest.Count - i)), CancellationToken.None);
        }

        SyncJournal();
    }

    private void SyncJournal()
    {
        try
        {
            _journal.Sync();
        }
        catch (IOException ex)
        {
            Log.SpillFailed(_logger, 0, ex.Message);
        }
    }

    private async Task WriteOrSpillAsync(List<UsageRecord> batch, CancellationToken cancellationToken)
    {
        try
        {
            await _store.WriteAsync(batch, cancellationToken);
            _metrics.UsageWritten(batch.Count);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            Log.StoreFailed(_logger, batch.Count, $"{ex.GetType().Name}: {ex.Message}");
            Spill(batch);
        }
    }

    private async Task ReplaySpillsAsync(CancellationToken cancellationToken)
    {
        if (!_journal.HasSpill())
        {
            return;
        }

        foreach (var file in _journal.ClaimSpills())
        {
            try
            {
                foreach (var chunk in UsageJournal.Read(file).Chunk(BatchSize))
                {
                    await _store.WriteAsync(chunk, cancellationToken);
                }

                File.Delete(file);
                Log.Replayed(_logger, Path.GetFileName(file));
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // Still unreachable: the file stays and is tried again; records already taken are skipped by id.
                return;
            }
        }
    }

    private void Spill(IReadOnlyList<UsageRecord> records)
    {
        try
        {
            _journal.AppendSpill(records);
            _metrics.UsageSpilled(records.Count);
        }
        catch (IOException ex)
        {
            Log.SpillFailed(_logger, records.Count, ex.Message);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(90, LogLevel.Warning, "Usage store refused {Count} records ({Reason}); kept in the spill journal for later")]
        public static partial void StoreFailed(ILogger logger, int count, string reason);

        [LoggerMessage(91, LogLevel.Information, "Replayed usage spill {File} into the store")]
        public static partial void Replayed(ILogger logger, string file);

        [LoggerMessage(92, LogLevel.Critical, "Could not write {Count} usage records to the spill journal: {Reason}")]
        public static partial void SpillFailed(ILogger logger, int count, string reason);
    }
}
