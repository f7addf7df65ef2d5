using System.Text;
using System.Text.Json;
using Gateway.Configuration;
using Gateway.Requests;
using Gateway.Streaming;
using Gateway.Translators.Contract;
using Gateway.Translators.Providers;
using Gateway.Translators.Translation;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gateway.Tests.Translators;

/// <summary>Runs the gateway's response path (translator + relay + writers) on bytes, without sockets.</summary>
internal static class RelayHarness
{
    public const string PublicModel = "golden-model";

    /// <summary>The answer the harness's exchange produces, served by a deployment priced at $1.50 / $2.00 per million tokens.</summary>
    public static ProducedAnswer Answer(ChatExchange exchange)
    {
        var provider = new ProviderRuntime("golden-provider", ProviderCatalog.Find("deepinfra")!, new Uri("http://127.0.0.1:9"), "UNUSED", null, new ProviderOptions());
        var target = new DeploymentTarget { PublicModel = PublicModel, UpstreamModel = "upstream" };
        return new ProducedAnswer(exchange, new Deployment(provider, target, new Price(1_500_000, 2_000_000)));
    }

    public static ChatExchange Exchange(bool stream, bool includeUsage, string prompt = "Say hello")
    {
        var request = JsonSerializer.Deserialize(
            $$"""{"model":"{{PublicModel}}","stream":{{(stream ? "true" : "false")}},{{(includeUsage ? "\"stream_options\":{\"include_usage\":true}," : "")}}"messages":[{"role":"user","content":"{{prompt}}"}]}""",
            OpenAiJson.Context.ChatCompletionRequest)!;
        var key = new ClientKey("golden", new byte[32], new HashSet<string>());
        var route = new ModelRoute(PublicModel, "test", 0, []);
        return new ChatExchange("req_golden", key, request, route, RoutingSettings.Default, RequestDeadline.None(TimeProvider.System),
            new RequestStop(CancellationToken.None, CancellationToken.None, CancellationToken.None), TimeProvider.System)
        {
            CompletionId = "chatcmpl-golden",
            Created = 1700000000,
        };
    }

    public static IChatProvider ProviderFor(string fixture) =>
        (IChatProvider)ProviderCatalog.Find(fixture.StartsWith("hive", StringComparison.Ordinal) ? "hive-v3"
            : fixture.StartsWith("segmind", StringComparison.Ordinal) ? "segmind" : "deepinfra")!;

    public static async Task<string> SseAsync(string fixture, byte[] upstream, IReadOnlyList<int> cuts, bool clientStream, bool includeUsage)
    {
        var exchange = Exchange(clientStream, includeUsage);
        var relay = new ResponseRelay(exchange, Answer(exchange), "golden-provider", ProviderFor(fixture), new StreamLimits(TimeSpan.FromSeconds(5), TimeSpan.FromMinutes(1)), null, NullLogger.Instance);
        var (context, body) = NewContext();
        var result = clientStream
            ? await relay.SseToSseAsync(context.Response, new SegmentedStream(upstream, cuts), CancellationToken.None)
            : await relay.SseToJsonAsync(context.Response, new SegmentedStream(upstream, cuts), CancellationToken.None);
        return Describe(context, body, result);
    }

    public static async Task<string> CompletionAsync(string fixture, byte[] upstream, bool clientStream, bool includeUsage)
    {
        var exchange = Exchange(clientStream, includeUsage);
        var provider = ProviderFor(fixture);
        Assert.True(provider.TryReadCompletion(upstream, out var completion));
        var relay = new ResponseRelay(exchange, Answer(exchange), "golden-provider", provider, new StreamLimits(TimeSpan.FromSeconds(5), TimeSpan.FromMinutes(1)), null, NullLogger.Instance);
        var (context, body) = NewContext();
        var result = await relay.CompletionAsync(context.Response, completion!, CancellationToken.None);
        return Describe(context, body, result);
    }

    private static (DefaultHttpContext, MemoryStream) NewContext()
    {
        var context = new DefaultHttpContext();
        var body = new MemoryStream();
        context.Response.Body = body;
        return (context, body);
    }

    /// <summary>What the client would see: the outcome, and the body if anything was written.</summary>
    private static string Describe(DefaultHttpContext context, MemoryStream body, AttemptResult result)
    {
        context.Response.BodyWriter.FlushAsync().AsTask().GetAwaiter().GetResult();
        var text = Encoding.UTF8.GetString(body.ToArray());
        var header = result.Outcome == AttemptOutcome.FailedBeforeResponse
            ? $"# outcome: {result.Outcome} ({result.Error!.Status} {result.Error.Code})\n"
            : $"# outcome: {result.Outcome}; usage header: {context.Response.Headers["x-gateway-usage"]}\n";
        return header + text;
    }
}
