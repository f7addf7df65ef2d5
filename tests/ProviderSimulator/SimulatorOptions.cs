namespace ProviderSimulator;

/// <summary>
/// Per-run behaviour (section <c>Sim</c>; e.g. <c>--Sim:DeepInfra:SeparateUsageChunk=true</c>). Where
/// PROVIDERS.md marks a fact as a guess [G], the choice is a setting here.
/// </summary>
public sealed class SimulatorOptions
{
    public HiveV3Options HiveV3 { get; set; } = new();
    public DeepInfraOptions DeepInfra { get; set; } = new();
    public SegmindOptions Segmind { get; set; } = new();
    public HiveV2Options HiveV2 { get; set; } = new();

    /// <summary>Keep what arrives for <c>GET /_sim/requests</c>; benchmarks turn it off.</summary>
    public bool RecordRequests { get; set; } = true;

    /// <summary>
    /// Accept fields a provider's document does not list. Off by default: the simulator follows the documents and
    /// refuses the rest (as a strict provider could), so tests show what the gateway really sends; the per-request
    /// knob <c>lenient=1</c> relaxes it for one request.
    /// </summary>
    public bool AcceptUndocumented { get; set; }
}

public sealed class HiveV3Options
{
    public string ApiKey { get; set; } = "sim-hive-key";
    public List<string> Models { get; set; } =
    [
        "meta-llama/llama-3.2-1b-instruct", "meta-llama/llama-3.2-3b-instruct",
        "meta-llama/llama-3.1-8b-instruct", "meta-llama/llama-3.1-70b-instruct",
        "hive/stream-only-model",
    ];

    /// <summary>Models that refuse non-streaming requests ("some models only stream" [O]).</summary>
    public List<string> StreamOnlyModels { get; set; } = ["hive/stream-only-model"];
}

public sealed class DeepInfraOptions
{
    public string ApiKey { get; set; } = "sim-deepinfra-key";
    public List<string> Models { get; set; } =
    [
        "meta-llama/Meta-Llama-3.1-8B-Instruct", "meta-llama/Meta-Llama-3.1-70B-Instruct",
        "meta-llama/Meta-Llama-3.1-405B-Instruct", "meta-llama/Meta-Llama-3.1-8B-Instruct-Turbo",
        "meta-llama/Meta-Llama-3.1-70B-Instruct-Turbo", "meta-llama/Llama-3.3-70B-Instruct",
    ];

    /// <summary>[G] Send usage as an extra <c>choices: []</c> chunk instead of on the finish chunk.</summary>
    public bool SeparateUsageChunk { get; set; }

    /// <summary>[O] Interleave <c>: ping</c> comment lines.</summary>
    public bool Pings { get; set; }

    /// <summary>
    /// Top-level fields taken beyond seed 003's list. The seed is silent on OpenAI parameters it does not list (stop,
    /// n, tools, stream_options, ...); DeepInfra's own OpenAI-compatible docs take them, and a deployment may decide to
    /// pass them (the shipped gateway.json does, field by field). A test whose deployment passes such fields names
    /// exactly those here; everything else stays refused, below the top level included.
    /// </summary>
    public List<string> AlsoAccept { get; set; } = [];

    /// <summary>USD per million tokens used for <c>estimated_cost</c>.</summary>
    public decimal InputPricePerMillion { get; set; } = 0.03m;
    public decimal OutputPricePerMillion { get; set; } = 0.05m;
}

public sealed class SegmindOptions
{
    public string ApiKey { get; set; } = "sim-segmind-key";
    public List<string> Slugs { get; set; } = ["llama-v3p1-8b-instruct", "llama-v3p1-70b-instruct", "llama-v3p1-405b-instruct"];

    /// <summary>[G] Whether answers carry <c>usage</c> (unconfirmed: the gateway must cope without).</summary>
    public bool IncludeUsage { get; set; }

    public decimal CostPerRequestUsd { get; set; } = 0.0002m;
}

public sealed class HiveV2Options
{
    public string ApiKey { get; set; } = "sim-hive-v2-key";
}
