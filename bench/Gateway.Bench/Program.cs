using System.Globalization;
using BenchmarkDotNet.Running;

// "scripts HOST:PORT [requests] [inFlight]": what the limit scripts cost in redis-server (ScriptCost); else BenchmarkDotNet.
if (args.Length >= 2 && args[0] == "scripts")
{
    return await Gateway.Bench.ScriptCost.RunAsync(args[1], args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 20_000,
        args.Length > 3 ? int.Parse(args[3], CultureInfo.InvariantCulture) : 5);
}

BenchmarkSwitcher.FromAssembly(typeof(Gateway.Bench.TranslationBenchmarks).Assembly).Run(args);
return 0;
