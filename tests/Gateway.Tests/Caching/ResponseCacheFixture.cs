using System.ClientModel;
using System.ClientModel.Primitives;
using System.Text.Json.Nodes;
using Gateway.Tests.Infrastructure;
using OpenAI;
using OpenAI.Chat;

namespace Gateway.Tests.Caching;

/// <summary>
/// Three gateway processes on one Redis and one simulator, with the response cache on: <c>cached-llama</c> per key
/// (the default scope), <c>shared-llama</c> shared by every key, <c>plain-llama</c> without a cache.
/// </summary>
public sealed class ResponseCacheFixture : IAsyncLifetime
{
    public const string Alice = "sk-cache-alice";
    public const string Bob = "sk-cache-bob";
    public const string Carol = "sk-cache-carol";

    private readonly List<GatewayProcess> _processes = [];

    public SimulatorHost Simulator { get; private set; } = null!;
    public RedisServer Redis { get; private set; } = null!;
    public List<Uri> Replicas { get; } = [];

    public async Task InitializeAsync()
    {
        Simulator = await SimulatorHost.StartAsync();
        Redis = await RedisServer.StartAsync();
        var config = TestConfig.Standard(Simulator.BaseUrl);
        config["Redis"] = new JsonObject { ["Configuration"] = Redis.Configuration, ["CommandTimeoutMilliseconds"] = 300 };
        config["Cache"] = new JsonObject { ["TtlSeconds"] = 600, ["CoalesceWaitSeconds"] = 20 };
        var deepinfra = ("deepinfra", "meta-llama/Meta-Llama-3.1-8B-Instruct");
        config["Models"]!["cached-llama"] = Cached(TestConfig.Model(deepinfra), new JsonObject());
        config["Models"]!["shared-llama"] = Cached(TestConfig.Model(deepinfra), new JsonObject { ["Scope"] = "shared" });
        config["Models"]!["small-entries-llama"] = Cached(TestConfig.Model(deepinfra), new JsonObject { ["MaxEntryBytes"] = 200 });
        config["Models"]!["plain-llama"] = TestConfig.Model(deepinfra).With(d => d["PassParameters"] = TestConfig.DeepInfraPassed());
        config["Keys"]!["alice"] = new JsonObject
        {
            ["Sha256"] = TestConfig.Sha256(Alice), ["Models"] = new JsonArray("*"),
            ["Limits"] = new JsonObject { ["RequestsPerMinute"] = 100000, ["TokensPerMinute"] = 10000000 },
        };
        config["Keys"]!["bob"] = new JsonObject { ["Sha256"] = TestConfig.Sha256(Bob), ["Models"] = new JsonArray("*") };
        // Two requests a minute, and a token rate no answer fits in: only cache hits can be served to carol.
        config["Keys"]!["carol"] = new JsonObject
        {
            ["Sha256"] = TestConfig.Sha256(Carol), ["Models"] = new JsonArray("*"),
            ["Limits"] = new JsonObject { ["RequestsPerMinute"] = 2, ["TokensPerMinute"] = 1 },
        };
        var directory = Directory.CreateTempSubdirectory("gateway-cache-");
        var path = Path.Combine(directory.FullName, "gateway.json");
        await File.WriteAllTextAsync(path, config.ToJsonString());
        for (var i = 0; i < 3; i++)
        {
            _processes.Add(GatewayProcess.Start(path));
        }

        foreach (var process in _processes)
        {
            Replicas.Add(await process.WaitUntilListeningAsync());
        }
    }

    private static JsonObject Cached(JsonObject model, JsonObject cache)
    {
        model.With(d => d["PassParameters"] = TestConfig.DeepInfraPassed());
        model["Cache"] = cache;
        return model;
    }

    public string Output(int replica) => _processes[replica].Output;

    public ChatClient Chat(int replica, string key, string model = "cached-llama") =>
        new(model, new ApiKeyCredential(key), new OpenAIClientOptions
        {
            Endpoint = new Uri(Replicas[replica % Replicas.Count], "/v1"),
            RetryPolicy = new ClientRetryPolicy(maxRetries: 0),
            NetworkTimeout = TimeSpan.FromSeconds(60),
        });

    public HttpClient Http(int replica, string key)
    {
        var http = new HttpClient { BaseAddress = Replicas[replica % Replicas.Count], Timeout = TimeSpan.FromSeconds(60) };
        http.DefaultRequestHeaders.Authorization = new("Bearer", key);
        return http;
    }

    /// <summary>
    /// Waits (bounded) until <paramref name="count"/> requests on <paramref name="replica"/> wait for an identical
    /// request's provider call: read from the replica's own <c>gateway.cache.waiting</c> gauge at <c>/metrics</c>.
    /// </summary>
    public Task WaitForWaitersAsync(int replica, int count) => Eventually.TrueAsync(async () =>
    {
        using var http = new HttpClient { BaseAddress = Replicas[replica], Timeout = TimeSpan.FromSeconds(10) };
        var scrape = await http.GetStringAsync("/metrics");
        var waiting = scrape.Split('\n').Where(l => l.StartsWith("gateway_cache_waiting{", StringComparison.Ordinal))
            .Sum(l => double.Parse(l[(l.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture));
        return waiting >= count;
    }, TimeSpan.FromSeconds(20), $"{count} request(s) never waited on replica {replica}");

    /// <summary>How many requests whose body contains <paramref name="marker"/> reached the simulator.</summary>
    public Task<int> ProviderCallsAsync(string marker) => Simulator.CountRequestsContainingAsync(marker);

    public async Task DisposeAsync()
    {
        foreach (var process in _processes)
        {
            await process.DisposeAsync();
        }

        await Simulator.DisposeAsync();
        await Redis.DisposeAsync();
    }
}
