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
/// passes. The simulator is the lenient one because the shipped configuration passes OpenAI parameters DeepInfra's
/// seed does not list (an operator decision: DeepInfra is OpenAI-compatible); what each provider received is checked
/// here instead.
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

    private SimulatorHost _simulator = null!;
    private GatewayHost _gateway = null!;

    private static JsonObject Shipped() => JsonNode.Parse(File.ReadAllText(ShippedPath))!.AsObject();

    public async Task InitializeAsync()
    {
        _simulator = await SimulatorHost.StartAsync();
        var config = Shipped();
        foreach (var (_, provider) in config["Providers"]!.AsObject())
        {
            provider!["BaseUrl"] = _simulator.BaseUrl.ToString().TrimEnd('/');
            provider["ApiKeyEnv"] = KeyVariables[provider["Kind"]!.GetValue<string>()];
        }

        // Each attempt visible: no retries, no circuits (the deployments before the one under test fail on purpose).
        config["Routing"] = TestConfig.NoRetriesNoCircuits();
        config["Keys"] = new JsonObject { ["test"] = new JsonObject { ["Sha256"] = TestConfig.Sha256(TestConfig.Key), ["Models"] = new JsonArray("*") } };
        _gateway = await GatewayHost.StartAsync(config);
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        await _simulator.DisposeAsync();
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
