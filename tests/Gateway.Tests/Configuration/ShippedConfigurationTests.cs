using System.ClientModel;
using System.ClientModel.Primitives;
using System.Text.Json;
using System.Text.Json.Nodes;
using Gateway.Tests.Infrastructure;
using OpenAI;
using OpenAI.Chat;

// Seed is marked for evaluation in the SDK; SDKs send it, so the test does too.
#pragma warning disable OPENAI001

namespace Gateway.Tests.Configuration;

/// <summary>
/// The repository's own gateway.json against the simulator, with the official OpenAI SDK sending what SDKs send
/// (max_tokens as max_completion_tokens, temperature, top_p, stop, seed, user, stream and stream_options): every
/// shipped model answers on each of its deployments, each forced in turn to be the one that answers (the ones before it
/// fail with 503). Where a deployment drops a parameter by the configuration's decision, the answer names it in
/// <c>x-gateway-dropped-parameters</c>, and the provider receives only what its document lists or the configuration
/// passes. The simulator is strict, except that DeepInfra also takes exactly the top-level fields the shipped DeepInfra
/// deployments pass (an operator decision, commented in gateway.json: DeepInfra is OpenAI-compatible beyond its seed's
/// list); what each provider received is checked here too.
/// </summary>
public sealed class ShippedConfigurationTests : IAsyncLifetime
{
    private static readonly string ShippedPath = Path.Combine(AppContext.BaseDirectory, "shipped", "gateway.json");

    // The simulator's name for each provider kind (its request log and its only= directive).
    private static readonly Dictionary<string, string> SimulatorNames = new()
    {
        ["hive-v3"] = "hive-v3", ["deepinfra"] = "deepinfra", ["segmind"] = "segmind",
    };

    private static readonly Dictionary<string, string> KeyVariables = new()
    {
        ["hive-v3"] = "GW_TEST_HIVE_KEY", ["deepinfra"] = "GW_TEST_DEEPINFRA_KEY", ["segmind"] = "GW_TEST_SEGMIND_KEY",
    };

    // The compose demo's configuration runs against the simulator image, which follows the seeds strictly.
    private static readonly string DemoPath = Path.Combine(AppContext.BaseDirectory, "deploy", "gateway.demo.json");

    private SimulatorHost _simulator = null!;
    private SimulatorHost _strictSimulator = null!;
    private GatewayHost _gateway = null!;
    private GatewayHost _demo = null!;

    private static JsonObject Shipped() => JsonNode.Parse(File.ReadAllText(ShippedPath))!.AsObject();

    private static JsonObject Demo() => JsonNode.Parse(File.ReadAllText(DemoPath))!.AsObject();

    public async Task InitializeAsync()
    {
        _simulator = await SimulatorHost.StartStrictAsync(SimulatorHost.DeepInfraAlsoAccepts(PassedTo(Shipped(), "deepinfra")));
        _strictSimulator = await SimulatorHost.StartStrictAsync();
        _gateway = await GatewayHost.StartAsync(AgainstSimulator(Shipped(), _simulator));
        var demo = Demo();
        // The demo's Hive V2 model needs callbacks through a balancer (the fleet proof runs it); the rest is checked here.
        foreach (var name in demo["Models"]!.AsObject().Where(m => KindsOf(demo, m.Key).Contains("hive-v2")).Select(m => m.Key).ToList())
        {
            demo["Models"]!.AsObject().Remove(name);
        }

        demo["Providers"]!.AsObject().Remove("hive2");
        demo["Server"]!.AsObject().Remove("CallbackSigningKeyEnv");
        _demo = await GatewayHost.StartAsync(AgainstSimulator(demo, _strictSimulator));
    }

    private static JsonObject AgainstSimulator(JsonObject config, SimulatorHost simulator)
    {
        foreach (var (_, provider) in config["Providers"]!.AsObject())
        {
            provider!["BaseUrl"] = simulator.BaseUrl.ToString().TrimEnd('/');
            provider["ApiKeyEnv"] = KeyVariables[provider["Kind"]!.GetValue<string>()];
        }

        // Each attempt visible: no retries, no circuits (the deployments before the one under test fail on purpose).
        config["Routing"] = TestConfig.NoRetriesNoCircuits();
        config["Keys"] = new JsonObject { ["test"] = new JsonObject { ["Sha256"] = TestConfig.Sha256(TestConfig.Key), ["Models"] = new JsonArray("*") } };
        return config;
    }

    /// <summary>Every parameter some deployment on a provider of <paramref name="kind"/> passes by configuration.</summary>
    private static IEnumerable<string> PassedTo(JsonObject config, string kind) => config["Models"]!.AsObject()
        .SelectMany(m => m.Value!["Deployments"]!.AsArray())
        .Where(d => config["Providers"]![d!["Provider"]!.GetValue<string>()]!["Kind"]!.GetValue<string>() == kind)
        .SelectMany(d => d!["PassParameters"]?.AsArray().Select(p => p!.GetValue<string>()) ?? []);

    private static List<string> KindsOf(JsonObject config, string model) => [.. config["Models"]![model]!["Deployments"]!.AsArray()
        .Select(d => config["Providers"]![d!["Provider"]!.GetValue<string>()]!["Kind"]!.GetValue<string>())];

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        await _demo.DisposeAsync();
        await _simulator.DisposeAsync();
        await _strictSimulator.DisposeAsync();
    }

    public static TheoryData<string, bool> DemoModels()
    {
        var data = new TheoryData<string, bool>();
        var demo = Demo();
        foreach (var (model, _) in demo["Models"]!.AsObject().Where(m => !KindsOf(demo, m.Key).Contains("hive-v2")))
        {
            data.Add(model, false);
            data.Add(model, true);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(DemoModels))]
    public async Task TheComposeDemo_AnswersWhatSdksSend_AgainstTheStrictSimulatorItRunsWith(string model, bool stream)
    {
        var chat = _demo.Chat(model);
        var options = new ChatCompletionOptions
        {
            MaxOutputTokenCount = 40, Temperature = 0.5f, TopP = 0.9f, StopSequences = { "zzz" }, Seed = 7, EndUserId = "user-1",
        };
        var text = new System.Text.StringBuilder();
        if (stream)
        {
            await foreach (var update in chat.CompleteChatStreamingAsync([new UserChatMessage("hello")], options))
            {
                foreach (var part in update.ContentUpdate)
                {
                    text.Append(part.Text);
                }
            }
        }
        else
        {
            text.Append((await chat.CompleteChatAsync([new UserChatMessage("hello")], options)).Value.Content[0].Text);
        }

        Assert.Contains("echo: hello", text.ToString());
    }

    /// <summary>Every (model, deployment index) of the shipped configuration, streamed and not.</summary>
    public static TheoryData<string, int, bool> Deployments()
    {
        var data = new TheoryData<string, int, bool>();
        foreach (var (model, route) in Shipped()["Models"]!.AsObject())
        {
            for (var i = 0; i < route!["Deployments"]!.AsArray().Count; i++)
            {
                data.Add(model, i, false);
                data.Add(model, i, true);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Deployments))]
    public async Task EveryShippedDeployment_AnswersWhatSdksSend(string model, int index, bool stream)
    {
        var config = Shipped();
        var kinds = config["Models"]![model]!["Deployments"]!.AsArray()
            .Select(d => config["Providers"]![d!["Provider"]!.GetValue<string>()]!["Kind"]!.GetValue<string>()).ToList();
        // The deployments before this one fail, so this one answers.
        var failing = string.Concat(kinds.Take(index).Select(k => $" [sim only={SimulatorNames[k]} status=503]"));
        var id = Sse.NewRequestId();
        var seen = new ResponseHeaders();
        var clientOptions = new OpenAIClientOptions { Endpoint = new Uri(_gateway.BaseUrl, "/v1"), RetryPolicy = new ClientRetryPolicy(maxRetries: 0) };
        clientOptions.AddPolicy(new FixedHeadersPolicy(new Dictionary<string, string> { ["x-request-id"] = id }), PipelinePosition.PerCall);
        clientOptions.AddPolicy(seen, PipelinePosition.PerCall);
        var chat = new ChatClient(model, new ApiKeyCredential(TestConfig.Key), clientOptions);
        var options = new ChatCompletionOptions
        {
            MaxOutputTokenCount = 40, Temperature = 0.5f, TopP = 0.9f, StopSequences = { "zzz" }, Seed = 7, EndUserId = "user-1",
        };
        List<ChatMessage> messages = [new UserChatMessage("hello" + failing)];

        string text;
        if (stream)
        {
            var builder = new System.Text.StringBuilder();
            await foreach (var update in chat.CompleteChatStreamingAsync(messages, options))
            {
                foreach (var part in update.ContentUpdate)
                {
                    builder.Append(part.Text);
                }
            }

            text = builder.ToString();
        }
        else
        {
            text = (await chat.CompleteChatAsync(messages, options)).Value.Content[0].Text;
        }

        var dropped = seen.Dropped;

        Assert.Contains("echo: hello", text);
        var attempts = await _simulator.RequestsAsync(id);
        Assert.Equal(kinds.Take(index + 1).Select(k => SimulatorNames[k]), attempts.Select(a => a.Provider));
        var sent = JsonDocument.Parse(attempts[^1].Body).RootElement.EnumerateObject().Select(p => p.Name).ToHashSet();
        switch (kinds[index])
        {
            case "segmind":
                // Its seed documents messages only: nothing else reaches it, and the client is told what was not applied.
                Assert.Equal(["messages"], sent);
                Assert.Equal("max_completion_tokens, temperature, top_p, stop, seed", dropped);
                break;
            case "hive-v3":
                Assert.Subset(new HashSet<string> { "model", "messages", "max_tokens", "temperature", "top_p", "stream" }, sent);
                Assert.Contains("max_tokens", sent);
                Assert.Equal("stop, seed", dropped);
                break;
            default:
                Assert.Contains("max_tokens", sent);
                Assert.Contains("stop", sent);
                Assert.Null(dropped);
                break;
        }
    }

    /// <summary>Keeps the gateway's x-gateway-dropped-parameters header of the SDK's last response, streamed or not.</summary>
    private sealed class ResponseHeaders : PipelinePolicy
    {
        public string? Dropped { get; private set; }

        public override void Process(PipelineMessage message, IReadOnlyList<PipelinePolicy> pipeline, int currentIndex)
        {
            ProcessNext(message, pipeline, currentIndex);
            Keep(message);
        }

        public override async ValueTask ProcessAsync(PipelineMessage message, IReadOnlyList<PipelinePolicy> pipeline, int currentIndex)
        {
            await ProcessNextAsync(message, pipeline, currentIndex);
            Keep(message);
        }

        private void Keep(PipelineMessage message) =>
            Dropped = message.Response!.Headers.TryGetValue("x-gateway-dropped-parameters", out var value) ? value : null;
    }
}
