using System.Buffers;
using System.Text;
using BenchmarkDotNet.Attributes;
using Gateway.Translators.Providers;
using Gateway.Translators.Translation;

namespace Gateway.Bench;

/// <summary>The request side: read and validate a client body once, write the provider's body.</summary>
[MemoryDiagnoser]
[ShortRunJob]
public class TranslationBenchmarks
{
    private static readonly byte[] Body = Encoding.UTF8.GetBytes("""
        {"model":"llama-3.1-8b-instruct","temperature":0.7,"max_tokens":256,"messages":[
          {"role":"system","content":"You are a helpful assistant."},
          {"role":"user","content":"Explain the concept of reinforcement learning in two sentences."}]}
        """);

    private static readonly DeploymentTarget Target = new() { PublicModel = "llama-3.1-8b-instruct", UpstreamModel = "meta-llama/Meta-Llama-3.1-8B-Instruct" };
    private readonly ArrayBufferWriter<byte> _output = new(4096);
    private readonly IChatProvider _deepInfra = (IChatProvider)ProviderCatalog.Find("deepinfra")!;

    [Benchmark(Description = "read+validate request")]
    public object? ReadRequest()
    {
        ChatRequestReader.TryRead(Body, out var request, out _);
        return request;
    }

    [Benchmark(Description = "read request + write DeepInfra body")]
    public int ReadAndTranslate()
    {
        ChatRequestReader.TryRead(Body, out var request, out _);
        _output.ResetWrittenCount();
        _deepInfra.WriteRequest(request!, Target, stream: true, _output);
        return _output.WrittenCount;
    }
}
