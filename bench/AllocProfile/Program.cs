using System.Globalization;
using Microsoft.Diagnostics.Tracing.Etlx;
using Microsoft.Diagnostics.Tracing.Parsers.Clr;

// Usage: AllocProfile <trace.nettrace> [top]
// The runtime reports an allocation tick (type, bytes since the last tick, call stack) every ~100 KB allocated: summed,
// they are a sample of where the bytes go. Two tables: by type, and by type with the gateway frame nearest to the
// allocation (the first frame of the Gateway assemblies on its stack; framework-only stacks are named by their leaf).
if (args.Length == 0)
{
    Console.Error.WriteLine("usage: AllocProfile <trace.nettrace> [top]");
    return 2;
}

var top = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 30;
using var log = new TraceLog(TraceLog.CreateFromEventPipeDataFile(args[0]));
var byType = new Dictionary<string, long>();
var bySite = new Dictionary<string, long>();
long total = 0;
foreach (var data in log.Events)
{
    if (data is not GCAllocationTickTraceData tick)
    {
        continue;
    }

    var type = tick.TypeName ?? "?";
    total += tick.AllocationAmount64;
    byType[type] = byType.GetValueOrDefault(type) + tick.AllocationAmount64;
    string? leaf = null;
    string? gateway = null;
    for (var frame = data.CallStack(); frame is not null && gateway is null; frame = frame.Caller)
    {
        var method = frame.CodeAddress.FullMethodName;
        leaf ??= method;
        if (method?.StartsWith("Gateway.", StringComparison.Ordinal) == true)
        {
            gateway = method;
        }
    }

    var site = $"{type} @ {Shorten(gateway ?? "(framework) " + (leaf ?? "?"))}";
    bySite[site] = bySite.GetValueOrDefault(site) + tick.AllocationAmount64;
}

Console.WriteLine($"# Sampled allocations: {total / 1e6:F1} MB in {byType.Values.Count} types");
Print("By type", byType);
Print("By type and nearest gateway frame", bySite);
return 0;

void Print(string title, Dictionary<string, long> table)
{
    Console.WriteLine();
    Console.WriteLine($"## {title}");
    Console.WriteLine();
    Console.WriteLine("| share | where |");
    Console.WriteLine("|---|---|");
    foreach (var (name, bytes) in table.OrderByDescending(e => e.Value).Take(top))
    {
        Console.WriteLine($"| {100.0 * bytes / total:F1}% | {name.Replace("|", "\\|", StringComparison.Ordinal)} |");
    }
}

// Method names without their parameter lists: enough to find the line, short enough to read.
static string Shorten(string method)
{
    var paren = method.IndexOf('(', StringComparison.Ordinal);
    return paren > 0 ? method[..paren] : method;
}
