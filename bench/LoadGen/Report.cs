using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace LoadGen;

/// <summary>Writes the benchmark report: command, machine, versions, figures, and the gap to each goal.</summary>
internal sealed class Report(string command, bool quick)
{
    public static readonly double[] FixedRates = [200, 1000, 2000];
    private static readonly string[] GatewayArms = ["gateway", "gateway+redis"];
    public static readonly double[] MaxRateSteps = [1000, 2000, 3000, 4000, 5000, 6000, 8000, 10000];

    public Dictionary<string, Samples> Sequential { get; } = [];
    public Dictionary<(string, double), RateResult> Fixed { get; } = [];
    public Dictionary<string, RateResult?> MaxRate { get; } = [];
    public Dictionary<string, StreamResult> Streams { get; } = [];
    public Dictionary<string, double> IdleRssMb { get; } = [];
    public Dictionary<string, double> LoadRssMb { get; } = [];
    public Dictionary<string, HeldStreams> HeldStreams { get; } = [];
    public string? Micro { get; set; }

    private static string F(double v) => double.IsNaN(v) ? "n/a" : v.ToString("F0", CultureInfo.InvariantCulture);

    private static string F1(double v) => double.IsNaN(v) ? "n/a" : v.ToString("F1", CultureInfo.InvariantCulture);

    private static string F2(double v) => double.IsNaN(v) ? "n/a" : v.ToString("F2", CultureInfo.InvariantCulture);

    // The direct arm has no process of its own to measure.
    private static string Cpu(RateResult r) => r.CpuMicrosPerRequest is { } cpu ? F(cpu) : "-";

    public string Render(List<Arm> arms)
    {
        var md = new StringBuilder();
        md.AppendLine("# Benchmark: what the gateway costs on top of a direct call").AppendLine();
        md.AppendLine(CultureInfo.InvariantCulture, $"- Command: `{command}`{(quick ? " (quick mode: fewer samples, shorter steps)" : "")}");
        md.AppendLine(CultureInfo.InvariantCulture, $"- Date (UTC): {DateTime.UtcNow:yyyy-MM-dd HH:mm}");
        md.AppendLine(CultureInfo.InvariantCulture, $"- Machine: {Machine()}");
        md.AppendLine(CultureInfo.InvariantCulture, $"- Versions: {Versions()}");
        md.AppendLine("- Layout: the system under test (nginx, the floor relay or the gateway) is pinned to CPU 1; the load generator and the provider simulator share CPU 0. " +
                      "The direct arm is the load generator talking to the simulator itself. All on 127.0.0.1, HTTP/1.1 keep-alive.");
        md.AppendLine("- Gateway arms run the full path: key auth, routing, translation to DeepInfra's dialect, rate limits (a key with high limits), metering (journal, or Redis), " +
            "with the container's JIT settings (tiered compilation with dynamic PGO, DOTNET_TC_CallCountingDelayMs=0; see the Dockerfile), " +
            "after 10 s (quick) or 20 s of load at 1,500 requests per second and 60 streams, so that the JIT has tiered up.");
        md.AppendLine("- The floor arm is bench/Floor (Kestrel and YARP's IHttpForwarder relaying the request untouched, with the same JIT settings and warm-up): the least a .NET relay costs here; issue 23's goals are measured against it.")
            .AppendLine("- CPU us/request: user+system time of nginx's workers, the floor relay, the gateway, or the gateway and redis-server (gateway+redis), over the run, per answer.").AppendLine();

        md.AppendLine("## One request in flight (non-streaming), microseconds").AppendLine();
        md.AppendLine("| arm | p50 | p99 | added p50 | added p99 | p50 over the floor arm |").AppendLine("|---|---|---|---|---|---|");
        var direct = Sequential["direct"];
        var floorP50 = Sequential.TryGetValue("floor", out var floorSeq) ? floorSeq.P50 : double.NaN;
        foreach (var arm in arms)
        {
            var s = Sequential[arm.Name];
            md.AppendLine(CultureInfo.InvariantCulture,
                $"| {arm.Name} | {F(s.P50)} | {F(s.P99)} | {F(s.P50 - direct.P50)} | {F(s.P99 - direct.P99)} | {F(s.P50 - floorP50)} |");
        }

        md.AppendLine().AppendLine("## Fixed request rates (open loop), microseconds from send to last byte").AppendLine();
        md.AppendLine("| rate/s | arm | achieved/s | p50 | p99 | added p50 | added p99 | CPU us/request | errors |").AppendLine("|---|---|---|---|---|---|---|---|---|");
        foreach (var rate in FixedRates)
        {
            var d = Fixed[("direct", rate)];
            foreach (var arm in arms)
            {
                var r = Fixed[(arm.Name, rate)];
                md.AppendLine(CultureInfo.InvariantCulture,
                    $"| {rate} | {arm.Name} | {F(r.AchievedRate)} | {F(r.P50)} | {F(r.P99)} | {F(r.P50 - d.P50)} | {F(r.P99 - d.P99)} | {Cpu(r)} | {r.Errors} |");
            }
        }

        md.AppendLine().AppendLine("## Highest rate with p99 under 5 ms (best of two tries per step)").AppendLine();
        md.AppendLine("| arm | rate/s | p99 us | ratio to nginx | CPU us/request |").AppendLine("|---|---|---|---|---|");
        var nginx = MaxRate["nginx"]?.AchievedRate ?? double.NaN;
        foreach (var arm in arms)
        {
            var best = MaxRate[arm.Name];
            md.AppendLine(CultureInfo.InvariantCulture,
                $"| {arm.Name} | {(best is null ? "below first step" : F(best.TargetRate))} | {(best is null ? "-" : F(best.P99))} | {(best is null ? "-" : F2(best.AchievedRate / nginx))} | {(best is null ? "-" : Cpu(best))} |");
        }

        md.AppendLine().AppendLine("## Streams (40 chunks, 2 ms apart at the provider), microseconds").AppendLine();
        md.AppendLine("| arm | TTFT p50 | TTFT p99 | added TTFT p50 | added TTFT p99 | TTFT p50 over the floor arm | gap p50 | gap p99 | added gap p50 | added gap p99 |")
            .AppendLine("|---|---|---|---|---|---|---|---|---|---|");
        var ds = Streams["direct"];
        var floorTtft = Streams.TryGetValue("floor", out var floorStreams) ? floorStreams.Ttft.P50 : double.NaN;
        foreach (var arm in arms)
        {
            var s = Streams[arm.Name];
            md.AppendLine(CultureInfo.InvariantCulture,
                $"| {arm.Name} | {F(s.Ttft.P50)} | {F(s.Ttft.P99)} | {F(s.Ttft.P50 - ds.Ttft.P50)} | {F(s.Ttft.P99 - ds.Ttft.P99)} | {F(s.Ttft.P50 - floorTtft)} | {F(s.Gaps.P50)} | {F(s.Gaps.P99)} | {F(s.Gaps.P50 - ds.Gaps.P50)} | {F(s.Gaps.P99 - ds.Gaps.P99)} |");
        }

        md.AppendLine().AppendLine("## Memory (resident set, and live heap of held streams), MB").AppendLine();
        md.AppendLine("Held streams: each reading follows a full collection (dotnet-gcdump). Resident set per 1,000 streams from just before")
            .AppendLine("they opened; live heap the same way; the goal takes the larger of the two.").AppendLine();
        md.AppendLine("| arm | idle | under load (max) | 1,000 open slow streams | per 1,000 streams: resident | per 1,000 streams: live heap |")
            .AppendLine("|---|---|---|---|---|---|");
        foreach (var (name, idle) in IdleRssMb)
        {
            var held = HeldStreams.GetValueOrDefault(name);
            md.AppendLine(CultureInfo.InvariantCulture,
                $"| {name} | {F1(idle)} | {F1(LoadRssMb.GetValueOrDefault(name, double.NaN))} | {F1(held?.RssDuring ?? double.NaN)} ({held?.Opened ?? 0} open) | {F1(held?.RssPerThousand ?? double.NaN)} | {F1(held?.LivePerThousand ?? double.NaN)} |");
        }

        if (Micro is not null)
        {
            md.AppendLine().AppendLine("## Allocations (BenchmarkDotNet, MemoryDiagnoser)").AppendLine().AppendLine(Micro);
        }

        return md.ToString();
    }

    /// <summary>
    /// Issue 23's goals for one request at a time and for idle streams, as markdown table rows: p50 figures, each over
    /// the floor arm of this run (bench/Floor), for the gateway without and with Redis. Without a floor arm they read n/a.
    /// </summary>
    public string LatencyGoalRows()
    {
        var md = new StringBuilder();
        var floorSeq = Sequential.TryGetValue("floor", out var fs) ? fs.P50 : double.NaN;
        var floorTtft = Streams.TryGetValue("floor", out var ft) ? ft.Ttft.P50 : double.NaN;
        var gateways = GatewayArms.Where(Sequential.ContainsKey).ToList();
        Goal(md, "one request in flight, added p50 over the floor arm", "<= 150 us", 150,
            gateways.Select(g => (g, Sequential[g].P50 - floorSeq)), " us");
        Goal(md, "added time to first token p50 over the floor arm", "<= 200 us", 200,
            gateways.Select(g => (g, Streams[g].Ttft.P50 - floorTtft)), " us");
        Goal(md, "memory per 1,000 idle streams (the larger of resident set and live heap)", "<= 40 MB", 40,
            gateways.Select(g => (g, HeldStreams.GetValueOrDefault(g)?.Cost ?? double.NaN)), " MB");
        return md.ToString();
    }

    private static void Goal(StringBuilder md, string name, string target, double limit, IEnumerable<(string Arm, double Value)> measured, string unit)
    {
        var list = measured.ToList();
        // A figure this run could not measure (n/a) neither meets the goal nor misses it.
        var known = list.Where(m => !double.IsNaN(m.Value)).ToList();
        var met = known.Count == 0 ? "not measured"
            : known.All(m => m.Value <= limit) ? (known.Count == list.Count ? "yes" : "yes where measured")
            : known.Any(m => m.Value <= limit) ? "partly" : "no";
        var text = string.Join("; ", list.Select(m => $"{m.Arm} {F1(m.Value)}{unit}"));
        md.AppendLine(CultureInfo.InvariantCulture, $"| {name} | {target} | {text} | {met} |");
    }

    private static string Machine()
    {
        var cpu = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim();
        var memKb = File.ReadLines("/proc/meminfo").First().Split(' ', StringSplitOptions.RemoveEmptyEntries)[1];
        // This process is pinned to one CPU, so count the machine's CPUs rather than ours.
        var cpus = File.ReadLines("/proc/cpuinfo").Count(l => l.StartsWith("processor", StringComparison.Ordinal));
        return $"{cpus} CPUs ({cpu}), {long.Parse(memKb, CultureInfo.InvariantCulture) / 1024 / 1024} GiB, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}";
    }

    private static string Versions() =>
        $".NET {Environment.Version}, {Run("nginx", "-v")}, {Run("redis-server", "--version")}";

    private static string Run(string file, string arg)
    {
        try
        {
            var p = Process.Start(new ProcessStartInfo(file, arg) { RedirectStandardOutput = true, RedirectStandardError = true })!;
            var text = p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd();
            p.WaitForExit();
            return text.Trim().Split('\n')[0];
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return file + " not found";
        }
    }
}
