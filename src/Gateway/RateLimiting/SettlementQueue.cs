using System.Text.Json;
using System.Text.Json.Serialization;
using System.Threading.Channels;
using Gateway.Metering;
using Gateway.Telemetry;

namespace Gateway.RateLimiting;

/// <summary>
/// Makes every reservation end exactly once. Settlements (and cancellations of admissions the gateway gave up on)
/// are applied off the request path, in batches; one the engine cannot take (Redis down or stalled) is retried with
/// backoff until it is taken, and waits in <c>settlements.jsonl</c> in the journal directory when too many pile up
/// or the gateway stops, to be replayed at the next start. Engines ignore a settlement already applied, so a retry
/// or a replay never counts twice.
/// </summary>
internal sealed partial class SettlementQueue : BackgroundService, IHostedLifecycleService
{
    private const int BatchSize = 128;
    private const int MaxWaiting = 50_000;
    private static readonly TimeSpan AttemptTimeout = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(10);

    private readonly Channel<Settlement> _incoming = Channel.CreateUnbounded<Settlement>(new UnboundedChannelOptions { SingleReader = true });
    private readonly List<(Settlement Item, int Attempts)> _retrying = [];
    private readonly ILimitEngine _engine;
    private readonly GatewayMetrics _metrics;
    private readonly TimeProvider _clock;
    private readonly ILogger<SettlementQueue> _logger;
    private readonly string _spillPath;

    // Settlements handed to the engine and not yet answered: a stopping replica waits for them (the engine may hold some
    // back for a moment, to ride on an admission), so none is lost between the engine and the spill file.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<Task, byte> _attempts = new();
    private DateTimeOffset _nextRetry;
    private int _pending;

    public SettlementQueue(ILimitEngine engine, MeteringSettings metering, GatewayMetrics metrics, TimeProvider clock, ILogger<SettlementQueue> logger)
    {
        _engine = engine;
        _metrics = metrics;
        _clock = clock;
        _logger = logger;
        _spillPath = Path.Combine(Path.GetFullPath(metering.JournalDirectory), "settlements.jsonl");
    }

    /// <summary>Settlements not yet taken by the engine (queued, retrying); spilled ones are not counted.</summary>
    public int Pending => Volatile.Read(ref _pending);

    /// <summary>
    /// Applies the settlement at once (a request's slot is free again as soon as it ends); only one the engine does not
    /// take goes to the queue to be retried.
    /// </summary>
    public void Enqueue(Settlement settlement)
    {
        Interlocked.Increment(ref _pending);
        var attempt = _engine.SettleAsync(settlement);
        if (attempt.IsCompletedSuccessfully)
        {
            Done(settlement);
            return;
        }

        var finishing = FinishAsync(settlement, attempt);
        _attempts.TryAdd(finishing, 0);
        _ = finishing.ContinueWith(static (t, state) => ((SettlementQueue)state!)._attempts.TryRemove(t, out _), this,
            CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    private async Task FinishAsync(Settlement settlement, Task attempt)
    {
        try
        {
            await attempt.WaitAsync(AttemptTimeout, _clock);
            Done(settlement);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // Retried by the background loop until the engine takes it.
            _incoming.Writer.TryWrite(settlement);
        }
    }

    private void Done(Settlement settlement)
    {
        Interlocked.Decrement(ref _pending);
        _metrics.Settlement(settlement.Cancel ? "cancelled" : "settled");
    }

    /// <summary>Queues a settlement read back from disk; the loop applies it.</summary>
    private void Requeue(Settlement settlement)
    {
        Interlocked.Increment(ref _pending);
        _incoming.Writer.TryWrite(settlement);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        foreach (var replayed in ReadSpill())
        {
            Requeue(replayed);
        }

        var batch = new List<Settlement>(BatchSize);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                using var wait = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
                wait.CancelAfter(_retrying.Count > 0 ? TimeSpan.FromMilliseconds(200) : TimeSpan.FromSeconds(5));
                if (await _incoming.Reader.WaitToReadAsync(wait.Token))
                {
                    while (batch.Count < BatchSize && _incoming.Reader.TryRead(out var s))
                    {
                        batch.Add(s);
                    }
                }
            }
            catch (OperationCanceledException) when (!stoppingToken.IsCancellationRequested)
            {
                // Idle: time to look at the retries.
            }
            catch (OperationCanceledException)
            {
                break;
            }

            if (batch.Count > 0)
            {
                await ApplyAsync(batch.Select(s => (s, 0)).ToList());
                batch.Clear();
            }

            if (_retrying.Count > 0 && _clock.GetUtcNow() >= _nextRetry)
            {
                var due = _retrying.ToList();
                _retrying.Clear();
                await ApplyAsync(due);
            }
        }
    }

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>After the web host has let every request go: one last try for everything still waiting; what the engine
    /// cannot take now is kept on disk for the next start.</summary>
    public async Task StoppedAsync(CancellationToken cancellationToken)
    {
        await _engine.FlushAsync();
        await Task.WhenAll(_attempts.Keys).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        var rest = _retrying.ToList();
        _retrying.Clear();
        while (_incoming.Reader.TryRead(out var s))
        {
            rest.Add((s, 0));
        }

        if (rest.Count > 0)
        {
            await ApplyAsync(rest);
        }

        if (_retrying.Count > 0)
        {
            Spill(_retrying.Select(r => r.Item).ToList());
            _retrying.Clear();
        }
    }

    private async Task ApplyAsync(List<(Settlement Item, int Attempts)> items)
    {
        var outcomes = await Task.WhenAll(items.Select(async i =>
        {
            try
            {
                await _engine.SettleAsync(i.Item).WaitAsync(AttemptTimeout, _clock);
                return true;
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                return false;
            }
        }));

        var failed = 0;
        for (var i = 0; i < items.Count; i++)
        {
            if (outcomes[i])
            {
                Done(items[i].Item);
                continue;
            }

            failed++;
            _retrying.Add((items[i].Item, items[i].Attempts + 1));
        }

        if (failed == 0)
        {
            return;
        }

        _metrics.Settlement("retrying", failed);
        var attempts = _retrying.Max(r => r.Attempts);
        _nextRetry = _clock.GetUtcNow() + TimeSpan.FromMilliseconds(Math.Min(MaxBackoff.TotalMilliseconds, 250 * Math.Pow(2, Math.Min(attempts, 10))));
        Log.Retrying(_logger, failed, _retrying.Count);
        if (_retrying.Count > MaxWaiting)
        {
            // Bounded memory: the oldest wait on disk until the engine is back (replayed at the next start).
            var oldest = _retrying.Take(_retrying.Count - (MaxWaiting / 2)).ToList();
            _retrying.RemoveRange(0, oldest.Count);
            Spill(oldest.Select(o => o.Item).ToList());
        }
    }

    private void Spill(List<Settlement> items)
    {
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(_spillPath)!);
            File.AppendAllLines(_spillPath, items.Select(s => JsonSerializer.Serialize(s, SettlementJson.Default.Settlement)));
            Interlocked.Add(ref _pending, -items.Count);
            _metrics.Settlement("spilled", items.Count);
            Log.Spilled(_logger, items.Count, _spillPath);
        }
        catch (IOException ex)
        {
            Log.SpillFailed(_logger, items.Count, ex.Message);
        }
    }

    private List<Settlement> ReadSpill()
    {
        if (!File.Exists(_spillPath))
        {
            return [];
        }

        var claimed = _spillPath + "." + Guid.NewGuid().ToString("N");
        File.Move(_spillPath, claimed);
        var items = new List<Settlement>();
        foreach (var line in File.ReadLines(claimed))
        {
            try
            {
                if (line.Length > 0 && JsonSerializer.Deserialize(line, SettlementJson.Default.Settlement) is { } s)
                {
                    items.Add(s);
                }
            }
            catch (JsonException)
            {
                // A line cut by a crash mid-write: the rest is intact.
            }
        }

        // Once queued they are in memory; stopping again spills whatever is still not taken.
        File.Delete(claimed);
        Log.Replaying(_logger, items.Count);
        return items;
    }

    private static partial class Log
    {
        [LoggerMessage(83, LogLevel.Warning, "{Failed} rate-limit settlements not taken (limits store unreachable); {Waiting} waiting, retried with backoff")]
        public static partial void Retrying(ILogger logger, int failed, int waiting);

        [LoggerMessage(84, LogLevel.Warning, "{Count} rate-limit settlements kept in {Path} until the limits store takes them")]
        public static partial void Spilled(ILogger logger, int count, string path);

        [LoggerMessage(85, LogLevel.Critical, "Could not keep {Count} rate-limit settlements on disk: {Reason}")]
        public static partial void SpillFailed(ILogger logger, int count, string reason);

        [LoggerMessage(86, LogLevel.Information, "Replaying {Count} rate-limit settlements kept from the last run")]
        public static partial void Replaying(ILogger logger, int count);
    }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(Settlement))]
internal sealed partial class SettlementJson : JsonSerializerContext;
