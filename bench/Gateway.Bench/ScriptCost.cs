using System.Globalization;
using Gateway.Configuration;
using Gateway.Metering;
using Gateway.Requests;
using Gateway.RateLimiting;
using Gateway.Redis;
using StackExchange.Redis;

namespace Gateway.Bench;

/// <summary>
/// What the gateway's scripts cost inside redis-server, without the gateway, HTTP or the noise of a loaded host:
/// <c>dotnet run -c Release -- scripts HOST:PORT [requests] [inFlight]</c> (bench/scripts.sh starts the server).
/// Requests of one key's plan as the bench gateway builds it (requests and tokens per minute, in flight, a month's budget,
/// recovery on), or of the shape SCRIPTS_PLAN names (bench/plan-prices.sh), are admitted and settled through
/// <see cref="RedisLimitEngine"/>, so the real scripts run in real batches (inFlight at a time). Redis's own accounting
/// (INFO commandstats) gives the script time per request and the commands inside; the server's CPU comes from INFO cpu.
/// Figures vary a few percent between runs close together, but up to a fifth over minutes on a busy VM
/// (docs/performance.md, eleventh round): compare changes in alternated runs, or count them
/// (bench/script-instructions.sh runs this same load against a redis-server under callgrind).
/// Then the same for usage records written through <see cref="RedisUsageStore"/>, 100 to a batch (about what the writer
/// gathers in its 20 ms linger at 16 connections).
/// </summary>
internal static class ScriptCost
{
    public static async Task<int> RunAsync(string endpoint, int requests, int inFlight)
    {
        // A name it does not know stops the run, rather than pricing a plan nobody asked for.
        if (ReadShape(Environment.GetEnvironmentVariable("SCRIPTS_PLAN"), out var shapeError) is not { } shape)
        {
            await Console.Error.WriteLineAsync(shapeError);
            return 2;
        }

        s_shape = shape;
        var options = ConfigurationOptions.Parse(endpoint);
        options.AllowAdmin = true;
        using var connection = await ConnectionMultiplexer.ConnectAsync(options);
        var server = connection.GetServer(connection.GetEndPoints()[0]);
        var redis = new RedisStore(connection, "bench:");
        var engine = new RedisLimitEngine(redis);
        await engine.WarmUpAsync();
        await server.ExecuteAsync("FLUSHALL");

        // Warm up the scripts and the connection, then measure.
        await RoundsAsync(engine, 200, inFlight);
        await engine.FlushAsync();
        await server.ExecuteAsync("CONFIG", "RESETSTAT");
        var cpuBefore = await CpuSecondsAsync(server);
        await RoundsAsync(engine, requests, inFlight);
        await engine.FlushAsync();
        var cpu = await CpuSecondsAsync(server) - cpuBefore;

        await ReportAsync(server, $"limits: {requests} admissions and settlements ({inFlight} in flight)", "request", requests, cpu);

        // Usage records, as the writer sends them.
        var usage = new RedisUsageStore(redis, new MeteringSettings());
        await usage.WarmUpAsync();
        await server.ExecuteAsync("CONFIG", "RESETSTAT");
        var memoryBefore = await UsedMemoryAsync(server);
        cpuBefore = await CpuSecondsAsync(server);
        const int PerBatch = 100;
        for (var written = 0; written < requests; written += PerBatch)
        {
            await usage.WriteAsync([.. Enumerable.Range(written, Math.Min(PerBatch, requests - written)).Select(Record)], CancellationToken.None);
        }

        await ReportAsync(server, $"usage: {requests} records, {PerBatch} to a batch", "record", requests, await CpuSecondsAsync(server) - cpuBefore);
        // What the records leave in Redis: each one's seen marker (kept 7 days) and stream entry (until the cap), and the
        // rollup cells, which one key and model share. Redis's own used_memory, before and after.
        var kept = await UsedMemoryAsync(server) - memoryBefore;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Redis memory kept per record {kept / (double)requests:F0} bytes"));
        return 0;
    }

    private static async Task ReportAsync(IServer server, string what, string unit, int count, double cpu)
    {
        var stats = ParseCommandStats((string)(await server.ExecuteAsync("INFO", "commandstats"))!);
        var scripts = stats.Where(s => s.Name is "evalsha" or "eval").ToList();
        var inner = stats.Where(s => s.Name is not ("evalsha" or "eval" or "config|resetstat" or "info")).ToList();
        Console.WriteLine(what);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"script calls per {unit} {scripts.Sum(s => s.Calls) / (double)count:F2}, script time per {unit} {scripts.Sum(s => s.Usec) / count:F1} us, redis-server CPU per {unit} {cpu * 1e6 / count:F1} us"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"commands inside per {unit} {inner.Sum(s => s.Calls) / (double)count:F1}, their time {inner.Sum(s => s.Usec) / count:F1} us"));
        // The rest of the script time is the Lua itself: interpreting it, and turning arguments and replies into Lua values,
        // numbers to and from text above all (docs/performance.md, twelfth round; bench/script-instructions.sh counts it).
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"the Lua around them per {unit} {(scripts.Sum(s => s.Usec) - inner.Sum(s => s.Usec)) / count:F1} us"));
        foreach (var s in inner.OrderByDescending(s => s.Usec))
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {s.Name,-18} {s.Calls / (double)count,6:F2} per {unit} {s.Usec / count,6:F2} us"));
        }
    }

    // A completed request of the bench key, as the gateway records it (its id too: the id's form decides its marker's).
    private static UsageRecord Record(int i) => new()
    {
        Id = UsageRecords.NewId(), RequestId = $"req_bench_{i:D8}", Key = "bench", KeyId = "benchkey", Model = "bench-llama",
        Provider = "deepinfra", UpstreamModel = "meta-llama/Meta-Llama-3.1-8B-Instruct", PromptTokens = 12, CompletionTokens = 10,
        CostMicros = 1, Status = 200, Outcome = "ok", LatencyMs = 2.5, Timestamp = DateTimeOffset.UtcNow,
    };

    private static async Task RoundsAsync(RedisLimitEngine engine, int requests, int inFlight)
    {
        for (var done = 0; done < requests; done += inFlight)
        {
            var plans = Enumerable.Range(done, Math.Min(inFlight, requests - done)).Select(_ => Plan()).ToList();
            var admitted = await Task.WhenAll(plans.Select(p => engine.AdmitAsync(p, DateTimeOffset.MaxValue)));
            if (admitted.Any(a => !a.Admitted))
            {
                throw new InvalidOperationException("an admission was refused: the limits are meant never to bite here");
            }

            // Settled as the gateway does: queued, riding on the next round's admissions.
            foreach (var plan in plans)
            {
                _ = engine.SettleAsync(Settlement.For(plan, 22, 900));
            }
        }
    }

    private static readonly string[] ShapeNames = ["all", "rpm", "tpm", "inflight", "budget", "recovery", "team"];

    private static readonly LimiterSettings Settings = new(TimeSpan.FromMinutes(1), 4096, FailOpen: false, TimeSpan.FromSeconds(5));

    // What SCRIPTS_PLAN asks for, read once at the start of the run (RunAsync): the bench key's limits, and whether its
    // requests carry a recovery record.
    private static (KeyLimits Limits, bool Recovery) s_shape;

    /// <summary>
    /// The bench key's limits as SCRIPTS_PLAN names them, to price each kind of counter (bench/plan-prices.sh): its counters,
    /// comma-separated, from rpm, tpm, inflight, budget, recovery, and team (the key in a team with the same limits of its
    /// own). By default "all": the bench gateway's key (bench/lib.sh write_gateway_config with a budget), a key alone with
    /// requests and tokens per minute, requests in flight and a month's budget, recovery on. Null (with the reason) when
    /// it names a counter this bench does not know.
    /// </summary>
    private static (KeyLimits Limits, bool Recovery)? ReadShape(string? named, out string? error)
    {
        error = null;
        var shape = (string.IsNullOrWhiteSpace(named) ? "all" : named)
            .Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).ToHashSet(StringComparer.Ordinal);
        var unknown = shape.Except(ShapeNames).ToList();
        if (unknown.Count > 0 || shape.Count == 0)
        {
            error = $"SCRIPTS_PLAN={named}: " + (unknown.Count > 0 ? $"unknown counter(s) {string.Join(", ", unknown)}" : "no counter named")
                + $"; known: {string.Join(", ", ShapeNames)}";
            return null;
        }

        bool Has(string counter) => shape.Contains("all") || shape.Contains(counter);
        var own = new KeyLimits(
            new LimitSet(Has("rpm") ? 100_000_000 : null, Has("tpm") ? 100_000_000_000 : null, Has("inflight") ? 100_000 : null),
            Has("budget") ? new Budget(1_000_000_000_000, BudgetPeriod.Month) : null, new Dictionary<string, LimitSet>());
        return (shape.Contains("team") ? own with { Team = new TeamLimits("benchteam", "benchteam", own) } : own, Has("recovery"));
    }

    // The last reservation's number (Plan); the first is 100, as in RecordIds.
    private static long s_lastId = 99;

    /// <summary>The plan one request of the run carries, built as the gateway builds it (RateLimiter.AdmitAsync).</summary>
    private static LimitPlan Plan()
    {
        // Ids of the gateway's own forms and lengths (RecordIds: 16 hex digits, a dash and a number, the reservation's id;
        // a request id "req_" and 32 hex digits), so the reservation holds what the gateway's does: its recovery record is
        // then longer than the 64 bytes up to which Redis keeps a small hash as a listpack, and the reservation a hash
        // table, as behind the gateway. Made from a counter, not drawn at random, so that every run sends the same.
        var n = Interlocked.Increment(ref s_lastId);
        var id = string.Create(CultureInfo.InvariantCulture, $"5c0ffee0d15ea5e5-{n}");
        var requestId = string.Create(CultureInfo.InvariantCulture, $"req_{n:x32}");
        var (limits, withRecovery) = s_shape;
        var recovery = withRecovery
            ? new LostRecord(id, requestId, "bench", "bench-llama", 12, 4084, 205, false)
            {
                KeyId = limits.Team is null ? null : "benchkey",
                Team = limits.Team?.Name,
            }
            : null;
        return LimitPlan.Build(id, "benchkey", limits, "bench-llama", 4096, 205, Settings, TimeSpan.FromMinutes(1), recovery);
    }

    private static async Task<long> UsedMemoryAsync(IServer server) => (long)InfoField(await InfoAsync(server, "memory"), "used_memory");

    private static async Task<double> CpuSecondsAsync(IServer server)
    {
        var info = await InfoAsync(server, "cpu");
        return InfoField(info, "used_cpu_sys") + InfoField(info, "used_cpu_user");
    }

    private static async Task<string> InfoAsync(IServer server, string section) => (string)(await server.ExecuteAsync("INFO", section))!;

    /// <summary>One "name:value" line of an INFO reply, as a number.</summary>
    private static double InfoField(string info, string name) =>
        double.Parse(info.Split('\n').Single(l => l.StartsWith(name + ":", StringComparison.Ordinal)).Split(':')[1].Trim(), CultureInfo.InvariantCulture);

    private static List<(string Name, long Calls, double Usec)> ParseCommandStats(string info) =>
    [
        .. info.Split('\n').Where(l => l.StartsWith("cmdstat_", StringComparison.Ordinal)).Select(l =>
        {
            var name = l["cmdstat_".Length..l.IndexOf(':', StringComparison.Ordinal)];
            var fields = l[(l.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim().Split(',')
                .Select(f => f.Split('=')).ToDictionary(p => p[0], p => p[1], StringComparer.Ordinal);
            return (name, long.Parse(fields["calls"], CultureInfo.InvariantCulture), double.Parse(fields["usec"], CultureInfo.InvariantCulture));
        }),
    ];
}
