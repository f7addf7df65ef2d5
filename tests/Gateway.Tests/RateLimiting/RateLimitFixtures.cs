using System.Text.Json.Nodes;
using Gateway.Tests.Infrastructure;
using OpenAI.Chat;

namespace Gateway.Tests.RateLimiting;

/// <summary>
/// Gateways with per-test client keys carrying limits. The Redis variant runs three gateway
/// processes sharing one redis-server; the in-memory variant runs one gateway in this process.
/// </summary>
public abstract class RateLimitFixture : IAsyncLifetime
{
    public static readonly string[] KeyNames =
        ["requests", "tokens", "budget", "inflight", "headers", "settle", "model", "sdk", "outage", "pacing"];

    private readonly List<GatewayProcess> _processes = [];
    private readonly List<GatewayHost> _hosts = [];

    public SimulatorHost Simulator { get; private set; } = null!;
    public RedisServer? Redis { get; private set; }

    /// <summary>Base URLs of the replicas; requests are spread over them.</summary>
    public List<Uri> Replicas { get; } = [];

    protected abstract bool UseRedis { get; }

    public static string KeyFor(string name) => "sk-limits-" + name;

    public static JsonObject Config(Uri simulator, string? redis, double windowSeconds = 60, string onRedisFailure = "allow")
    {
        var config = TestConfig.Standard(simulator);
        config["Limits"] = new JsonObject
        {
            ["WindowSeconds"] = windowSeconds,
            ["DefaultMaxTokens"] = 92,
            ["OnRedisFailure"] = onRedisFailure,
            ["DecisionTimeoutMilliseconds"] = 300,
        };
        var keys = config["Keys"]!.AsObject();
        Key(keys, "requests", new JsonObject { ["RequestsPerMinute"] = 100 });
        Key(keys, "tokens", new JsonObject { ["TokensPerMinute"] = 10_000 });
        // Each request reserves 8 prompt + 92 completion tokens at 1.5 / 2 USD per million: 196 micro-dollars.
        Key(keys, "budget", new JsonObject { ["BudgetUsd"] = 0.0196m, ["BudgetPeriod"] = "day" });
        Key(keys, "inflight", new JsonObject { ["ConcurrentRequests"] = 10 });
        Key(keys, "headers", new JsonObject { ["RequestsPerMinute"] = 50, ["TokensPerMinute"] = 100_000 });
        Key(keys, "settle", new JsonObject { ["TokensPerMinute"] = 1000 });
        Key(keys, "model", new JsonObject
        {
            ["RequestsPerMinute"] = 100,
            ["Models"] = new JsonObject { ["hive-llama"] = new JsonObject { ["RequestsPerMinute"] = 3 } },
        });
        Key(keys, "sdk", new JsonObject { ["RequestsPerMinute"] = 2 });
        Key(keys, "outage", new JsonObject { ["RequestsPerMinute"] = 1000 });
        Key(keys, "pacing", new JsonObject());
        if (redis is not null)
        {
            config["Redis"] = new JsonObject { ["Configuration"] = redis, ["CommandTimeoutMilliseconds"] = 300 };
        }

        var paced = TestConfig.Provider("deepinfra", simulator.ToString().TrimEnd('/'), "GW_TEST_DEEPINFRA_KEY");
        paced["RequestsPerSecond"] = 5;
        paced["WhenLimited"] = "shed";
        config["Providers"]!["paced-shed"] = paced;
        var queued = paced.DeepClone().AsObject();
        queued["WhenLimited"] = "queue";
        queued["MaxQueueSeconds"] = 10;
        config["Providers"]!["paced-queue"] = queued;
        config["Models"]!["paced-shed"] = TestConfig.Model(("paced-shed", "meta-llama/Meta-Llama-3.1-8B-Instruct"));
        config["Models"]!["paced-queue"] = TestConfig.Model(("paced-queue", "meta-llama/Meta-Llama-3.1-8B-Instruct"));
        return config;
    }

    private static void Key(JsonObject keys, string name, JsonObject limits) =>
        keys[name] = new JsonObject { ["Sha256"] = TestConfig.Sha256(KeyFor(name)), ["Models"] = new JsonArray("*"), ["Limits"] = limits };

    public async Task InitializeAsync()
    {
        Simulator = await SimulatorHost.StartAsync();
        if (!UseRedis)
        {
            var host = await GatewayHost.StartAsync(Config(Simulator.BaseUrl, null));
            _hosts.Add(host);
            Replicas.Add(host.BaseUrl);
            return;
        }

        Redis = await RedisServer.StartAsync();
        var directory = Directory.CreateTempSubdirectory("gateway-limits-");
        var path = Path.Combine(directory.FullName, "gateway.json");
        await File.WriteAllTextAsync(path, Config(Simulator.BaseUrl, Redis.Configuration).ToJsonString());
        for (var i = 0; i < 3; i++)
        {
            _processes.Add(GatewayProcess.Start(path, new Dictionary<string, string> { ["GW_TEST_DEEPINFRA_KEY"] = "sim-deepinfra-key",
                ["GW_TEST_HIVE_KEY"] = "sim-hive-key", ["GW_TEST_SEGMIND_KEY"] = "sim-segmind-key" }));
        }

        foreach (var p in _processes)
        {
            Replicas.Add(await p.WaitUntilListeningAsync());
        }
    }

    public async Task DisposeAsync()
    {
        foreach (var p in _processes)
        {
            await p.DisposeAsync();
        }

        foreach (var h in _hosts)
        {
            await h.DisposeAsync();
        }

        await Simulator.DisposeAsync();
        if (Redis is not null)
        {
            await Redis.DisposeAsync();
        }
    }

    public ChatClient Chat(int replica, string keyName, string model = "deepinfra-llama") =>
        new(model, new System.ClientModel.ApiKeyCredential(KeyFor(keyName)), new OpenAI.OpenAIClientOptions
        {
            Endpoint = new Uri(Replicas[replica % Replicas.Count], "/v1"),
            RetryPolicy = new System.ClientModel.Primitives.ClientRetryPolicy(maxRetries: 0),
            NetworkTimeout = TimeSpan.FromSeconds(60),
        });

    public HttpClient Http(int replica, string keyName)
    {
        var http = new HttpClient { BaseAddress = Replicas[replica % Replicas.Count], Timeout = TimeSpan.FromSeconds(60) };
        http.DefaultRequestHeaders.Authorization = new("Bearer", KeyFor(keyName));
        return http;
    }
}

public sealed class InMemoryRateLimitFixture : RateLimitFixture
{
    protected override bool UseRedis => false;
}

public sealed class RedisRateLimitFixture : RateLimitFixture
{
    protected override bool UseRedis => true;
}
