using System.Diagnostics;
using System.Globalization;

namespace LoadGen;

/// <summary>
/// A full collection in another .NET process, and what it left alive, through dotnet-gcdump (a heap dump starts with an
/// induced blocking collection). The resident set alone moved 11.5-49.4 MB per 1,000 held streams for the same code,
/// because it also holds whatever the collector had not yet run on or given back; the live heap after a full collection
/// does not depend on that timing.
/// </summary>
internal static class HeapProbe
{
    private static readonly string? Tool = Find();

    public static bool Available => Tool is not null;

    /// <summary>Collects the process's garbage and returns its live managed heap in MB, or NaN without dotnet-gcdump.</summary>
    public static async Task<double> CollectAndMeasureAsync(int pid)
    {
        if (Tool is null)
        {
            return double.NaN;
        }

        var dump = Path.Combine(Path.GetTempPath(), $"loadgen-{pid}-{Environment.TickCount64}.gcdump");
        try
        {
            await RunAsync("collect", "-p", pid.ToString(CultureInfo.InvariantCulture), "-o", dump);
            var report = await RunAsync("report", dump);
            // "     34,795,474  GC Heap bytes"
            var line = report.Split('\n').FirstOrDefault(l => l.Contains("GC Heap bytes", StringComparison.Ordinal));
            return line is null
                ? double.NaN
                : long.Parse(line.Trim().Split(' ')[0], NumberStyles.AllowThousands, CultureInfo.InvariantCulture) / 1048576.0;
        }
        finally
        {
            File.Delete(dump);
        }
    }

    private static async Task<string> RunAsync(params string[] args)
    {
        var start = new ProcessStartInfo(Tool!) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }

        using var process = Process.Start(start)!;
        // Both pipes drained to the end, so neither can fill and stall the tool; only its output is read.
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        await errors;
        return await output;
    }

    private static string? Find()
    {
        var home = Environment.GetEnvironmentVariable("HOME") ?? "";
        var candidates = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':')
            .Append(Path.Combine(home, ".dotnet", "tools"))
            .Select(d => Path.Combine(d, "dotnet-gcdump"));
        return candidates.FirstOrDefault(File.Exists);
    }
}
