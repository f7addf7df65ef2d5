using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace Gateway.Tests.Infrastructure;

/// <summary>Builds gateway.json files for tests, pointing every provider at a simulator.</summary>
public static class TestConfig
{
    public const string Key = "sk-test-key";
    public const string LimitedKey = "sk-limited-key";
    public const string AdminKey = "sk-admin-key";

    // Provider keys live in environment variables, named by gateway.json. Process-wide and fixed,
    // so tests running in parallel agree on them.
    static TestConfig()
    {
        Environment.SetEnvironmentVariable("GW_TEST_HIVE_KEY", "sim-hive-key");
        Environment.SetEnvironmentVariable("GW_TEST_DEEPINFRA_KEY", "sim-deepinfra-key");
        Environment.SetEnvironmentVariable("GW_TEST_SEGMIND_KEY", "sim-segmind-key");
        Environment.SetEnvironmentVariable("GW_TEST_WRONG_KEY", "wrong-provider-secret-12345");
        Environment.SetEnvironmentVariable("GW_TEST_HIVE_V2_KEY", "sim-hive-v2-key");
        Environment.SetEnvironmentVariable("GW_TEST_CALLBACK_SECRET", CallbackSecret);
    }

    public const string CallbackSecret = "test-callback-signing-secret-0123456789";

    /// <summary>Adds Hive V2 (async, by callback) models; the gateway must be reachable at <paramref name="publicBaseUrl"/>.</summary>
    public static JsonObject WithHiveV2(this JsonObject config, Uri simulator, string publicBaseUrl, string? redis = null)
    {
        var sim = simulator.ToString().TrimEnd('/');
        config["Server"]!["PublicBaseUrl"] = publicBaseUrl;
        config["Server"]!["CallbackSigningKeyEnv"] = "GW_TEST_CALLBACK_SECRET";
        config["Server"]!["MaxCallbackBodyBytes"] = 32 * 1024;
        var v2 = Provider("hive-v2", sim, "GW_TEST_HIVE_V2_KEY");
        v2["CallbackWaitSeconds"] = 5;
        v2["PollIntervalSeconds"] = 0.2;
        v2["TaskTimeoutSeconds"] = 8;
        v2["KeepAliveSeconds"] = 0.3;
        config["Providers"]!["hive2"] = v2;
        var quickPoll = Provider("hive-v2", sim, "GW_TEST_HIVE_V2_KEY");
        quickPoll["CallbackWaitSeconds"] = 0.3;
        quickPoll["PollIntervalSeconds"] = 0.2;
        quickPoll["TaskTimeoutSeconds"] = 2;
        quickPoll["KeepAliveSeconds"] = 0.3;
        config["Providers"]!["hive2-quick"] = quickPoll;
        var wrongKey = Provider("hive-v2", sim, "GW_TEST_WRONG_KEY");
        config["Providers"]!["hive2-wrong-key"] = wrongKey;
        config["Models"]!["hive2-llama"] = Model(("hive2", "Llama3_2_1B_Instruct"));
        config["Models"]!["hive2-quick"] = Model(("hive2-quick", "Llama3_2_1B_Instruct"));
        config["Models"]!["hive2-wrong-key"] = Model(("hive2-wrong-key", "Llama3_2_1B_Instruct"));
        config["Models"]!["hive2-custom-roles"] = Model(("hive2", "Llama3_2_1B_Instruct")).With(d =>
            d["Options"] = new JsonObject { ["UserRole"] = "Bob", ["ModelRole"] = "HPT" });
        if (redis is not null)
        {
            config["Redis"] = new JsonObject { ["Configuration"] = redis };
        }

        return config;
    }

    public static string Sha256(string key) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    /// <summary>The standard test configuration: one public model per situation the tests need.</summary>
    public static JsonObject Standard(Uri simulator)
    {
        var sim = simulator.ToString().TrimEnd('/');
        return new JsonObject
        {
            ["Server"] = new JsonObject { ["MaxRequestBodyBytes"] = 64 * 1024 },
            // One attempt per deployment and no circuits: many tests share one gateway and inject faults into the same
            // deployments, and each asserts what one attempt does. Retries and circuits have their own tests (RoutingTests,
            // FaultMatrixTests), which use the defaults.
            ["Routing"] = NoRetriesNoCircuits(),
            ["Providers"] = new JsonObject
            {
                ["hive"] = Provider("hive-v3", sim, "GW_TEST_HIVE_KEY"),
                ["deepinfra"] = Provider("deepinfra", sim, "GW_TEST_DEEPINFRA_KEY"),
                ["segmind"] = Provider("segmind", sim, "GW_TEST_SEGMIND_KEY"),
                ["deepinfra-wrong-key"] = Provider("deepinfra", sim, "GW_TEST_WRONG_KEY"),
                ["hive-wrong-key"] = Provider("hive-v3", sim, "GW_TEST_WRONG_KEY"),
                ["segmind-wrong-key"] = Provider("segmind", sim, "GW_TEST_WRONG_KEY"),
                // Port 9 (discard) is closed on loopback: connections are refused at once.
                ["unreachable"] = Provider("deepinfra", "http://127.0.0.1:9", "GW_TEST_DEEPINFRA_KEY"),
                ["hive-slow"] = Provider("hive-v3", sim, "GW_TEST_HIVE_KEY", responseTimeout: 1, idleTimeout: 1),
                ["deepinfra-quiet"] = Provider("deepinfra", sim, "GW_TEST_DEEPINFRA_KEY", responseTimeout: 10, idleTimeout: 2),
            },
            ["Models"] = new JsonObject
            {
                // As the repository's gateway.json: Hive takes temperature and top_p by its own docs (not the seed),
                // DeepInfra the OpenAI parameters its seed does not list; Segmind only what its seed documents.
                ["hive-llama"] = Model(("hive", "meta-llama/llama-3.2-1b-instruct")).With(d => d["PassParameters"] = new JsonArray("temperature", "top_p")),
                ["hive-strict"] = Model(("hive", "meta-llama/llama-3.2-1b-instruct")),
                ["deepinfra-llama"] = Model(("deepinfra", "meta-llama/Meta-Llama-3.1-8B-Instruct")).With(d => d["PassParameters"] = DeepInfraPassed()),
                ["segmind-llama"] = Model(("segmind", "llama-v3p1-8b-instruct")),
                ["hive-stream-only"] = Model(("hive", "hive/stream-only-model")).With(d => d["StreamingOnly"] = true),
                ["fallback-llama"] = Model(("deepinfra", "meta-llama/Meta-Llama-3.1-8B-Instruct"), ("segmind", "llama-v3p1-8b-instruct")),
                ["hive-lenient"] = Model(("hive", "meta-llama/llama-3.2-1b-instruct")).With(d => d["Undocumented"] = "drop"),
                ["deepinfra-clamping"] = Model(("deepinfra", "meta-llama/Meta-Llama-3.1-8B-Instruct")).With(d => d["ClampParameters"] = new JsonArray("top_p")),
                ["deepinfra-wrong-key"] = Model(("deepinfra-wrong-key", "meta-llama/Meta-Llama-3.1-8B-Instruct")),
                ["hive-wrong-key"] = Model(("hive-wrong-key", "meta-llama/llama-3.2-1b-instruct")),
                ["segmind-wrong-key"] = Model(("segmind-wrong-key", "llama-v3p1-8b-instruct")),
                ["unreachable-llama"] = Model(("unreachable", "meta-llama/Meta-Llama-3.1-8B-Instruct")),
                ["slow-llama"] = Model(("hive-slow", "meta-llama/llama-3.2-1b-instruct")),
                ["quiet-llama"] = Model(("deepinfra-quiet", "meta-llama/Meta-Llama-3.1-8B-Instruct")),
                ["misconfigured-llama"] = Model(("deepinfra", "no-such/model")),
            },
            ["Keys"] = new JsonObject
            {
                ["test"] = new JsonObject { ["Sha256"] = Sha256(Key), ["Models"] = new JsonArray("*") },
                ["limited"] = new JsonObject { ["Sha256"] = Sha256(LimitedKey), ["Models"] = new JsonArray("deepinfra-llama") },
                ["admin"] = new JsonObject { ["Sha256"] = Sha256(AdminKey), ["Models"] = new JsonArray("*"), ["Admin"] = true },
            },
        };
    }

    public static JsonObject NoRetriesNoCircuits() => new()
    {
        ["Retry"] = new JsonObject { ["MaxRetries"] = 0 },
        ["Circuit"] = new JsonObject { ["FailureThreshold"] = 0 },
    };

    /// <summary>The OpenAI parameters DeepInfra's seed does not list, passed as the repository's gateway.json does.</summary>
    public static JsonArray DeepInfraPassed() =>
        new("stream_options", "n", "stop", "logit_bias", "logprobs", "top_logprobs", "response_format", "tools", "parallel_tool_calls");

    public static JsonObject Provider(string kind, string baseUrl, string keyEnv, double responseTimeout = 10, double idleTimeout = 10) => new()
    {
        ["Kind"] = kind,
        ["BaseUrl"] = baseUrl,
        ["ApiKeyEnv"] = keyEnv,
        ["ConnectTimeoutSeconds"] = 2,
        ["ResponseTimeoutSeconds"] = responseTimeout,
        ["StreamIdleTimeoutSeconds"] = idleTimeout,
    };

    public static JsonObject Model(params (string Provider, string Upstream)[] deployments)
    {
        var list = new JsonArray();
        foreach (var (provider, upstream) in deployments)
        {
            list.Add(new JsonObject
            {
                ["Provider"] = provider,
                ["UpstreamModel"] = upstream,
                ["Price"] = new JsonObject { ["InputPerMillion"] = 1.5m, ["OutputPerMillion"] = 2m },
            });
        }

        return new JsonObject { ["OwnedBy"] = "test", ["Deployments"] = list };
    }

    /// <summary>Edits every deployment of a model.</summary>
    public static JsonObject With(this JsonObject model, Action<JsonObject> edit)
    {
        foreach (var d in model["Deployments"]!.AsArray())
        {
            edit(d!.AsObject());
        }

        return model;
    }
}

/// <summary>Reads a store's rollups into a list, as the usage endpoints' aggregate receives them.</summary>
internal static class UsageStoreReading
{
    public static async Task<List<(Gateway.Metering.RollupKey Key, Gateway.Metering.RollupTotals Totals)>> ReadAllAsync(
        this Gateway.Metering.IUsageStore store, IEnumerable<string> periods, Gateway.Metering.UsageScope scope = default)
    {
        var cells = new List<(Gateway.Metering.RollupKey, Gateway.Metering.RollupTotals)>();
        await store.ReadRollupsAsync(periods, scope, (k, t) => cells.Add((k, t)), CancellationToken.None);
        return cells;
    }
}
