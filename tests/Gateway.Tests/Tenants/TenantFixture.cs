using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using Gateway.Tests.Infrastructure;

namespace Gateway.Tests.Tenants;

/// <summary>
/// One shared gateway fleet as a platform team runs it: three gateway processes on one <c>redis-server</c> and one
/// simulator, with circuits, a shared response cache and several keys. <see cref="Attacker"/> tries what a careless or
/// hostile tenant would; <see cref="Victim"/> is another team whose service must not change.
/// </summary>
public sealed class TenantFixture : IAsyncLifetime
{
    public const string Attacker = "sk-tenant-attacker";
    public const string Accomplice = "sk-tenant-accomplice";
    public const string Victim = "sk-tenant-victim";
    public const string Refused = "sk-tenant-refused";
    public const string Admin = "sk-tenant-admin";

    // DeepInfra's model, and a second one whose circuit a test may open without touching the first's.
    public const string Fast = "meta-llama/Meta-Llama-3.1-8B-Instruct";
    public const string Turbo = "meta-llama/Meta-Llama-3.1-8B-Instruct-Turbo";

    /// <summary>The completion limit a key with a token limit gets when it sets none.</summary>
    public const int DefaultMaxTokens = 3;

    private GatewayFleet _fleet = null!;

    public SimulatorHost Simulator { get; private set; } = null!;
    public RedisServer Redis { get; private set; } = null!;
    public IReadOnlyList<Uri> Replicas => _fleet.Urls;

    public async Task InitializeAsync()
    {
        Simulator = await SimulatorHost.StartAsync();
        Redis = await RedisServer.StartAsync();
        var sim = Simulator.BaseUrl.ToString().TrimEnd('/');
        var config = TestConfig.Standard(Simulator.BaseUrl);
        config["Redis"] = new JsonObject { ["Configuration"] = Redis.Configuration };
        // The defaults a shared fleet runs with: circuits on (three failures, from at least two keys), no retries so each
        // attempt is visible in the simulator's log.
        config["Routing"] = new JsonObject
        {
            ["Retry"] = new JsonObject { ["MaxRetries"] = 0 },
            ["Circuit"] = new JsonObject { ["FailureThreshold"] = 3, ["BreakSeconds"] = 120 },
        };
        config["Limits"] = new JsonObject { ["DefaultMaxTokens"] = DefaultMaxTokens };
        config["Cache"] = new JsonObject { ["TtlSeconds"] = 600, ["CoalesceWaitSeconds"] = 20 };
        // A DeepInfra account with tight timeouts: a whole answer within 1 s, a stream within 1.5 s.
        var tight = TestConfig.Provider("deepinfra", sim, "GW_TEST_DEEPINFRA_KEY", responseTimeout: 1, idleTimeout: 5);
        tight["MaxStreamSeconds"] = 1.5;
        config["Providers"]!["deepinfra-tight"] = tight;
        var passed = TestConfig.DeepInfraPassed();
        config["Models"]!["tenant-llama"] = TestConfig.Model(("deepinfra-tight", Fast), ("segmind", "llama-v3p1-8b-instruct"))
            .With(d => d["PassParameters"] = passed.DeepClone());
        config["Models"]!["tenant-turbo"] = TestConfig.Model(("deepinfra-tight", Turbo), ("segmind", "llama-v3p1-8b-instruct"))
            .With(d => d["PassParameters"] = passed.DeepClone());
        var hive = TestConfig.Model(("hive", "meta-llama/llama-3.2-1b-instruct"), ("deepinfra", Fast));
        // As the repository's gateway.json: Hive takes temperature and top_p by its own docs.
        hive["Deployments"]![0]!["PassParameters"] = new JsonArray("temperature", "top_p");
        config["Models"]!["tenant-hive"] = hive;
        var cached = TestConfig.Model(("deepinfra", Fast)).With(d => d["PassParameters"] = passed.DeepClone());
        cached["Cache"] = new JsonObject { ["Scope"] = "shared", ["MaxEntryBytes"] = 16 * 1024 * 1024 };
        config["Models"]!["tenant-shared-cache"] = cached;
        var keys = (JsonObject)config["Keys"]!;
        // The attacker has a token limit, so its requests without max_tokens are capped at DefaultMaxTokens.
        keys["attacker"] = Key(Attacker, new JsonObject { ["TokensPerMinute"] = 10_000_000 });
        keys["accomplice"] = Key(Accomplice, null);
        keys["victim"] = Key(Victim, null);
        keys["refused"] = Key(Refused, new JsonObject { ["RequestsPerMinute"] = 1 });
        keys["tenant-admin"] = Key(Admin, null);
        keys["tenant-admin"]!["Admin"] = true;

        _fleet = await GatewayFleet.StartAsync(config, 3, "--Logging:LogLevel:Gateway.RateLimiting.RateLimiter=Information",
            "--Logging:LogLevel:Gateway.Lifecycle.GatewayLifecycle=Information");
    }

    private static JsonObject Key(string secret, JsonObject? limits)
    {
        var key = new JsonObject { ["Sha256"] = TestConfig.Sha256(secret), ["Models"] = new JsonArray("*") };
        if (limits is not null)
        {
            key["Limits"] = limits;
        }

        return key;
    }

    /// <summary>A raw client of one replica carrying <paramref name="key"/>.</summary>
    public HttpClient Http(int replica, string? key)
    {
        var http = new HttpClient { BaseAddress = Replicas[replica], Timeout = TimeSpan.FromSeconds(60) };
        if (key is not null)
        {
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }

        return http;
    }

    public string Output(int replica) => _fleet[replica].Output;

    public long ResidentBytes(int replica) => _fleet[replica].ResidentBytes;

    public async Task DisposeAsync()
    {
        await _fleet.DisposeAsync();
        await Redis.DisposeAsync();
        await Simulator.DisposeAsync();
    }
}
