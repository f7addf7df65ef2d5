using System.Globalization;
using System.Net;
using LoadGen;

// Usage: LoadGen --direct URL --nginx URL [--nginx-pids N,M] [--floor URL --floor-pid N] --gateway URL --gateway-pid N
//                [--gateway-redis URL --gateway-redis-pid N --redis-pid N]
//                [--quick] --out report.md [--goals goals.md] [--micro micro.md] [--command "..."]
var options = Args.Parse(args);
using var http = new HttpClient(new SocketsHttpHandler
{
    UseProxy = false,
    MaxConnectionsPerServer = 4096,
    PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
    AutomaticDecompression = DecompressionMethods.None,
})
{ Timeout = TimeSpan.FromSeconds(120) };

static int[] Pids(string? list) => list is null ? [] : [.. list.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(p => int.Parse(p, CultureInfo.InvariantCulture))];
var nginxArm = Arm.Provider("nginx", new Uri(options["nginx"]));
nginxArm.CpuPids = Pids(options.GetValueOrDefault("nginx-pids"));
var arms = new List<Arm> { Arm.Provider("direct", new Uri(options["direct"])), nginxArm };
if (options.TryGetValue("floor", out var floorUrl))
{
    // bench/Floor: Kestrel and YARP's forwarder, nothing else; issue 23's latency goals are measured against it.
    arms.Add(Arm.Floor("floor", new Uri(floorUrl), int.Parse(options["floor-pid"], CultureInfo.InvariantCulture)));
}

arms.Add(Arm.Gateway("gateway", new Uri(options["gateway"]), int.Parse(options["gateway-pid"], CultureInfo.InvariantCulture)));
if (options.TryGetValue("gateway-redis", out var redisUrl))
{
    var pid = int.Parse(options["gateway-redis-pid"], CultureInfo.InvariantCulture);
    var redisArm = Arm.Gateway("gateway+redis", new Uri(redisUrl), pid);
    redisArm.CpuPids = [pid, .. Pids(options.GetValueOrDefault("redis-pid"))];
    arms.Add(redisArm);
}

var quick = options.ContainsKey("quick");
var scenarios = new Scenarios(http);
var report = new Report(options.GetValueOrDefault("command", "bench/run.sh"), quick);
// Arms with a process of their own (the floor relay and the gateways): memory is measured for these.
var gateways = arms.Where(a => a.Pid is not null).ToList();

// The image's JIT tiers up under load (bench/warmup.sh: ~10 s at saturation on one core): the floor relay and the
// gateways get that load, JSON and streams, before anything is measured, so every figure is of their final code.
Console.WriteLine("== warm-up under load (the JIT tiers up)");
foreach (var arm in gateways)
{
    await scenarios.FixedRateAsync(arm, 1500, TimeSpan.FromSeconds(quick ? 10 : 20));
    await scenarios.StreamsAsync(arm, warmup: 0, count: 60, words: 10, chunkDelayMs: 0);
}

Console.WriteLine("== memory when idle (after warm-up)");
foreach (var arm in arms)
{
    await scenarios.SequentialAsync(arm, warmup: quick ? 200 : 2000, count: 0);
}

await Task.Delay(1000);
foreach (var arm in gateways)
{
    report.IdleRssMb[arm.Name] = arm.RssMb() ?? double.NaN;
}

Console.WriteLine("== one request in flight");
foreach (var arm in arms)
{
    report.Sequential[arm.Name] = await scenarios.SequentialAsync(arm, warmup: 200, count: quick ? 500 : 3000);
    Console.WriteLine($"{arm.Name}: p50 {report.Sequential[arm.Name].P50:F0} us, p99 {report.Sequential[arm.Name].P99:F0} us");
}

Console.WriteLine("== fixed rates");
foreach (var rate in Report.FixedRates)
{
    foreach (var arm in arms)
    {
        var result = await scenarios.FixedRateAsync(arm, rate, TimeSpan.FromSeconds(quick ? 2 : 5));
        report.Fixed[(arm.Name, rate)] = result;
        if (arm.Pid is not null)
        {
            report.LoadRssMb[arm.Name] = Math.Max(report.LoadRssMb.GetValueOrDefault(arm.Name), arm.RssMb() ?? 0);
        }

        Console.WriteLine($"{arm.Name} @ {rate}/s: p50 {result.P50:F0} us, p99 {result.P99:F0} us, achieved {result.AchievedRate:F0}/s, errors {result.Errors}");
    }
}

Console.WriteLine("== highest rate with p99 under 5 ms");
foreach (var arm in arms)
{
    // A step passes if either of two tries keeps p99 under 5 ms: one hiccup of a shared VM must
    // not end the search. The search ends after two failing steps in a row.
    RateResult? best = null;
    var failures = 0;
    foreach (var rate in Report.MaxRateSteps)
    {
        RateResult? passed = null;
        for (var attempt = 0; attempt < 2 && passed is null; attempt++)
        {
            var result = await scenarios.FixedRateAsync(arm, rate, TimeSpan.FromSeconds(quick ? 2 : 3));
            Console.WriteLine($"{arm.Name} @ {rate}/s: p99 {result.P99:F0} us, achieved {result.AchievedRate:F0}/s, errors {result.Errors}");
            passed = result.Passes(5000) ? result : null;
        }

        if (passed is null)
        {
            if (++failures == 2)
            {
                break;
            }

            continue;
        }

        failures = 0;
        best = passed;
        if (arm.Pid is not null)
        {
            report.LoadRssMb[arm.Name] = Math.Max(report.LoadRssMb.GetValueOrDefault(arm.Name), arm.RssMb() ?? 0);
        }

        await Task.Delay(300);
    }

    report.MaxRate[arm.Name] = best;
}

Console.WriteLine("== streams");
foreach (var arm in arms)
{
    report.Streams[arm.Name] = await scenarios.StreamsAsync(arm, warmup: 20, count: quick ? 50 : 300, words: 40, chunkDelayMs: 2);
    Console.WriteLine($"{arm.Name}: ttft p50 {report.Streams[arm.Name].Ttft.P50:F0} us, gap p50 {report.Streams[arm.Name].Gaps.P50:F0} us");
}

Console.WriteLine($"== 1,000 concurrent slow streams{(HeapProbe.Available ? "" : " (no dotnet-gcdump: the live heap is n/a)")}");
foreach (var arm in gateways)
{
    // Both readings follow a full collection (dotnet-gcdump), so neither holds garbage the collector had not reached.
    await Task.Delay(1000);
    var liveBefore = await HeapProbe.CollectAndMeasureAsync(arm.Pid!.Value);
    await Task.Delay(1000);
    var before = arm.RssMb() ?? double.NaN;
    var (streams, stop, opened) = await scenarios.HoldStreamsAsync(arm, 1000);
    await Task.Delay(2000);
    var liveDuring = await HeapProbe.CollectAndMeasureAsync(arm.Pid!.Value);
    await Task.Delay(1000);
    var during = arm.RssMb() ?? double.NaN;
    report.HeldStreams[arm.Name] = new HeldStreams(before, during, liveBefore, liveDuring, opened);
    Console.WriteLine($"{arm.Name}: {opened} open streams, RSS {before:F1} -> {during:F1} MB, live heap {liveBefore:F1} -> {liveDuring:F1} MB");
    await stop.CancelAsync();
    await Task.WhenAll(streams);
}

if (options.TryGetValue("micro", out var micro) && File.Exists(micro))
{
    report.Micro = await File.ReadAllTextAsync(micro);
}

await File.WriteAllTextAsync(options["out"], report.Render(arms));
if (options.TryGetValue("goals", out var goals))
{
    await File.WriteAllTextAsync(goals, report.LatencyGoalRows());
}

Console.WriteLine($"report written to {options["out"]}");

internal static class Args
{
    public static Dictionary<string, string> Parse(string[] args)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < args.Length; i++)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal))
            {
                continue;
            }

            var name = args[i][2..];
            result[name] = i + 1 < args.Length && !args[i + 1].StartsWith("--", StringComparison.Ordinal) ? args[++i] : "true";
        }

        return result;
    }
}
