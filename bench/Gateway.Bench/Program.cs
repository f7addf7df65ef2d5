using BenchmarkDotNet.Running;

BenchmarkSwitcher.FromAssembly(typeof(Gateway.Bench.TranslationBenchmarks).Assembly).Run(args);
