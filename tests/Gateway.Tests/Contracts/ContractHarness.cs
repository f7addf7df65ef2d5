using System.Text.Json.Nodes;
using Gateway.Tests.Infrastructure;
using WireMock.Logging;
using WireMock.Server;
using WireMock.Settings;

namespace Gateway.Tests.Contracts;

/// <summary>
/// One WireMock.Net server standing in for every provider, and a gateway whose deployments name the
/// seeds' own upstream models. Stubs are built from the seeds' literal examples (Fixtures/seeds/).
/// </summary>
public sealed class ContractHarness : IAsyncLifetime
{
    public const string HiveV3Model = "hive-seed";
    public const string DeepInfraModel = "deepinfra-seed";
    public const string SegmindModel = "segmind-seed";
    public const string HiveV2Model = "hive2-seed";
    public const string HiveV2PolledModel = "hive2-seed-polled";

    public WireMockServer Provider { get; private set; } = null!;
    public GatewayHost Gateway { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Provider = WireMockServer.Start(new WireMockServerSettings { Urls = [$"http://127.0.0.1:{FreePort.Get()}"] });
        var port = FreePort.Get();
        var url = Provider.Url!;
        var config = TestConfig.Standard(new Uri(url));
        config["Server"]!["PublicBaseUrl"] = $"http://127.0.0.1:{port}";
        config["Server"]!["CallbackSigningKeyEnv"] = "GW_TEST_CALLBACK_SECRET";
        var providers = config["Providers"]!.AsObject();
        var v2 = TestConfig.Provider("hive-v2", url, "GW_TEST_HIVE_V2_KEY");
        v2["CallbackWaitSeconds"] = 10;
        // Long enough for the slowest machine: these tests deliver the callback themselves, none waits for the timeout.
        v2["TaskTimeoutSeconds"] = 60;
        providers["hive2"] = v2;
        var polled = TestConfig.Provider("hive-v2", url, "GW_TEST_HIVE_V2_KEY");
        polled["CallbackWaitSeconds"] = 0.2;
        polled["PollIntervalSeconds"] = 0.2;
        providers["hive2-polled"] = polled;
        var models = config["Models"]!.AsObject();
        models[HiveV3Model] = TestConfig.Model(("hive", "meta-llama/llama-3.2-1b-instruct"));
        models[DeepInfraModel] = TestConfig.Model(("deepinfra", "meta-llama/Meta-Llama-3.1-8B-Instruct-Turbo"));
        models[SegmindModel] = TestConfig.Model(("segmind", "llama-v3p1-70b-instruct"));
        // Seed 002 names its history's roles "Bob" (the user) and "HPT" (the model).
        models[HiveV2Model] = TestConfig.Model(("hive2", "Llama3_2_1B_Instruct_v0_10_02_24")).With(d =>
            d["Options"] = new JsonObject { ["UserRole"] = "Bob", ["ModelRole"] = "HPT" });
        models[HiveV2PolledModel] = TestConfig.Model(("hive2-polled", "Llama3_2_1B_Instruct_v0_10_02_24"));
        Gateway = await GatewayHost.StartAsync(config, port);
    }

    public async Task DisposeAsync()
    {
        await Gateway.DisposeAsync();
        Provider.Stop();
        Provider.Dispose();
    }

    /// <summary>A WireMock.Net server of the caller's own on a free loopback port, answering DeepInfra's chat path with <paramref name="answer"/>.</summary>
    public static WireMockServer DeepInfraAnswering(WireMock.ResponseBuilders.IResponseBuilder answer)
    {
        var provider = WireMockServer.Start(new WireMockServerSettings { Urls = [$"http://127.0.0.1:{FreePort.Get()}"] });
        provider.Given(WireMock.RequestBuilders.Request.Create().WithPath("/v1/openai/chat/completions").UsingPost()).RespondWith(answer);
        return provider;
    }

    public static string Seed(string file) => File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "seeds", file));

    public static JsonNode SeedJson(string file) => JsonNode.Parse(Seed(file))!;

    /// <summary>The one request the provider received on <paramref name="path"/>.</summary>
    public ILogEntry Received(string path) => Assert.Single(Provider.LogEntries, e => e.RequestMessage.Path == path);

    public static JsonNode Body(ILogEntry entry) => JsonNode.Parse(entry.RequestMessage.Body!)!;

    public static string Header(ILogEntry entry, string name) =>
        entry.RequestMessage.Headers!.First(h => string.Equals(h.Key, name, StringComparison.OrdinalIgnoreCase)).Value.Single();

    /// <summary>Field by field: the same names, the same values, nothing more, nothing less.</summary>
    public static void SameJson(JsonNode expected, JsonNode actual) =>
        Assert.True(JsonNode.DeepEquals(expected, actual), $"expected (seed):\n{expected.ToJsonString()}\nsent:\n{actual.ToJsonString()}");
}
