using System.Text;
using System.Text.Json;
using BenchmarkDotNet.Attributes;
using Gateway.Configuration;
using Gateway.Requests;
using Gateway.Streaming;
using Gateway.Translators.Contract;
using Gateway.Translators.Providers;
using Gateway.Translators.Translation;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gateway.Bench;

/// <summary>
/// The response side: a provider stream of N chunks relayed to the client (parse each event,
/// rewrite it, write and flush it). Allocations at 10 and 100 chunks give the cost per chunk.
/// </summary>
[MemoryDiagnoser]
[ShortRunJob]
public class StreamRelayBenchmarks
{
    private byte[] _upstream = [];
    private ChatCompletionRequest _request = null!;
    private readonly IChatProvider _provider = (IChatProvider)ProviderCatalog.Find("deepinfra")!;

    [Params(10, 100)]
    public int Chunks { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var sse = new StringBuilder();
        for (var i = 0; i < Chunks; i++)
        {
            sse.Append("data: {\"id\":\"x\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{")
                .Append(i == 0 ? "\"role\":\"assistant\"," : "").Append("\"content\":\" word").Append(i).Append("\"},\"finish_reason\":null}]}\n\n");
        }

        sse.Append("data: {\"id\":\"x\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":")
            .Append(Chunks).Append(",\"total_tokens\":").Append(Chunks + 10).Append("}}\n\ndata: [DONE]\n\n");
        _upstream = Encoding.UTF8.GetBytes(sse.ToString());
        _request = JsonSerializer.Deserialize("""{"model":"bench","stream":true,"messages":[{"role":"user","content":"hi"}]}""",
            OpenAiJson.Context.ChatCompletionRequest)!;
    }

    [Benchmark(Description = "relay SSE stream to client")]
    public async Task<bool> Relay()
    {
        var key = new ClientKey("bench", new byte[32], new HashSet<string>());
        var route = new ModelRoute("bench", "bench", 0, []);
        var exchange = new ChatExchange("req", key, _request, route, RoutingSettings.Default, RequestDeadline.None(TimeProvider.System),
            new RequestStop(CancellationToken.None, CancellationToken.None, CancellationToken.None), TimeProvider.System);
        var context = new DefaultHttpContext();
        context.Response.Body = Stream.Null;
        var relay = new ResponseRelay(exchange, new ProducedAnswer(exchange, null), "bench", _provider, new StreamLimits(TimeSpan.FromSeconds(5), TimeSpan.FromMinutes(1)), null, NullLogger.Instance);
        var result = await relay.SseToSseAsync(context.Response, new MemoryStream(_upstream, writable: false), CancellationToken.None);
        return result.Outcome == AttemptOutcome.Succeeded;
    }
}
