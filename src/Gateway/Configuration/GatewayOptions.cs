namespace Gateway.Configuration;

/// <summary>
/// gateway.json as bound from configuration (the file, then environment variables, then the
/// command line, the ASP.NET way: <c>Providers__hive__BaseUrl</c> overrides
/// <c>Providers.hive.BaseUrl</c>). Mutable only for binding; <see cref="GatewaySnapshot"/> is the
/// validated, immutable form the request path reads.
/// </summary>
public sealed class GatewayOptions
{
    public ServerOptions Server { get; set; } = new();
    public Dictionary<string, ProviderOptions> Providers { get; set; } = new(StringComparer.OrdinalIgnoreCase);
    public Dictionary<string, ModelOptions> Models { get; set; } = new(StringComparer.OrdinalIgnoreCase);
    public Dictionary<string, KeyOptions> Keys { get; set; } = new(StringComparer.OrdinalIgnoreCase);
    public RedisOptions Redis { get; set; } = new();
    public LimitsOptions Limits { get; set; } = new();
    public RoutingOptions Routing { get; set; } = new();

    /// <summary>The response cache's defaults; the cache is on only for models and keys with their own <c>Cache</c> block.</summary>
    public ResponseCacheOptions Cache { get; set; } = new();
}

/// <summary>Shared state for several replicas. Without it, state lives in this process (one instance).</summary>
public sealed class RedisOptions
{
    /// <summary>A StackExchange.Redis connection string, e.g. <c>127.0.0.1:6379</c>; empty = in-memory.</summary>
    public string? Configuration { get; set; }

    /// <summary>Prefix of every key and channel the gateway uses, so several gateways can share a server.</summary>
    public string KeyPrefix { get; set; } = "gw:";

    /// <summary>Longest wait for one Redis command before it counts as failed.</summary>
    public int CommandTimeoutMilliseconds { get; set; } = 500;
}

public sealed class ServerOptions
{
    /// <summary>Largest accepted request body; larger ones get 413.</summary>
    public long MaxRequestBodyBytes { get; set; } = 4 * 1024 * 1024;

    /// <summary>The URL providers reach this gateway at; async-task providers call back below it.</summary>
    public string? PublicBaseUrl { get; set; }

    /// <summary>Name of the environment variable holding the secret that signs callback URLs (the same on every replica).</summary>
    public string? CallbackSigningKeyEnv { get; set; }

    /// <summary>Largest accepted callback body.</summary>
    public long MaxCallbackBodyBytes { get; set; } = 1024 * 1024;

    /// <summary>Failed authentications an address may make in a minute before it gets 429 (0 = no limit).</summary>
    public int AuthFailuresPerMinute { get; set; } = 60;

    /// <summary>
    /// Proxies (IP addresses or CIDR networks) whose <c>X-Forwarded-For</c> / <c>X-Forwarded-Proto</c> are believed;
    /// from anyone else those headers are ignored. Read at start-up.
    /// </summary>
    public List<string> TrustedProxies { get; set; } = [];
}

public sealed class ProviderOptions
{
    /// <summary>One of the kinds in <c>ProviderCatalog</c>: hive-v3, deepinfra, segmind.</summary>
    public string? Kind { get; set; }
    public string? BaseUrl { get; set; }

    /// <summary>The name of the environment variable holding the provider key (never the key itself).</summary>
    public string? ApiKeyEnv { get; set; }

    public double ConnectTimeoutSeconds { get; set; } = 10;

    /// <summary>Longest wait for the provider's response headers (and a whole non-streamed body).</summary>
    public double ResponseTimeoutSeconds { get; set; } = 120;

    /// <summary>Longest silence of a stream (any bytes from the provider, SSE comments included, count as life).</summary>
    public double StreamIdleTimeoutSeconds { get; set; } = 60;

    /// <summary>Longest a whole stream may run, however lively.</summary>
    public double MaxStreamSeconds { get; set; } = 1800;

    public int MaxConnections { get; set; } = 1024;

    /// <summary>The provider's own request rate, kept by all replicas together (e.g. 5 for Hive V3); none when unset.</summary>
    public long? RequestsPerSecond { get; set; }

    /// <summary>Over that rate: <c>queue</c> (wait for a slot, up to <see cref="MaxQueueSeconds"/>) or <c>shed</c> (fail over at once).</summary>
    public string WhenLimited { get; set; } = "queue";

    public double MaxQueueSeconds { get; set; } = 5;

    /// <summary>
    /// Warn in the log when the provider reports fewer credits left than this (Segmind's <c>x-remaining-credits</c>); the
    /// balance is a metric and on the dashboard whatever this says. None by default.
    /// </summary>
    public double? LowCreditsWarning { get; set; }

    /// <summary>Async-task providers (Hive V2): how long to wait for the callback before polling.</summary>
    public double CallbackWaitSeconds { get; set; } = 20;

    /// <summary>Async-task providers: interval between polls once polling started.</summary>
    public double PollIntervalSeconds { get; set; } = 2;

    /// <summary>Async-task providers: overall deadline for a task; beyond it the client gets 504.</summary>
    public double TaskTimeoutSeconds { get; set; } = 120;

    /// <summary>Async-task providers: interval of SSE comment keep-alives to a waiting streaming client.</summary>
    public double KeepAliveSeconds { get; set; } = 5;
}

public sealed class ModelOptions
{
    public string? OwnedBy { get; set; }

    /// <summary>Unix seconds shown as <c>created</c> in /v1/models.</summary>
    public long Created { get; set; }

    /// <summary>The deployments; <see cref="Strategy"/> decides which is tried first, the rest serve when one fails before answering.</summary>
    public List<DeploymentOptions> Deployments { get; set; } = [];

    /// <summary>
    /// How the deployments are ordered for each request: <c>ordered</c> (as listed, the default), <c>weighted</c>
    /// (shuffled by <see cref="DeploymentOptions.Weight"/>), <c>least-in-flight</c>, <c>lowest-latency</c> or <c>cheapest</c>.
    /// </summary>
    public string? Strategy { get; set; }

    /// <summary>Turns the response cache on for this model (every key), unless a key opts out.</summary>
    public CachePolicyOptions? Cache { get; set; }
}

public sealed class DeploymentOptions
{
    public string? Provider { get; set; }

    /// <summary>The provider's model id, or URL slug for Segmind.</summary>
    public string? UpstreamModel { get; set; }

    public PriceOptions? Price { get; set; }

    /// <summary>Share of traffic under the <c>weighted</c> strategy, relative to the model's other deployments.</summary>
    public double Weight { get; set; } = 1;

    /// <summary>The provider answers this model only as a stream; non-streaming clients get it collected.</summary>
    public bool StreamingOnly { get; set; }

    /// <summary>Parameters the provider cannot honour that may be dropped silently instead of rejected ("*" = all).</summary>
    public List<string> DropParameters { get; set; } = [];

    /// <summary>
    /// What happens to a parameter the provider's document does not list: <c>reject</c> (400 naming it, the default),
    /// <c>drop</c> (left out silently) or <c>pass</c> (sent as it is). <see cref="PassParameters"/> and
    /// <see cref="DropParameters"/> decide for the parameters they name.
    /// </summary>
    public string? Undocumented { get; set; }

    /// <summary>Parameters and extra fields sent although the provider does not document them ("*" = any).</summary>
    public List<string> PassParameters { get; set; } = [];

    /// <summary>Parameters that may be clamped into the provider's range instead of rejected.</summary>
    public List<string> ClampParameters { get; set; } = [];

    /// <summary>Provider-specific settings, e.g. Hive V2's <c>UserRole</c> and <c>ModelRole</c> history names.</summary>
    public Dictionary<string, string> Options { get; set; } = new(StringComparer.OrdinalIgnoreCase);
}

public sealed class PriceOptions
{
    /// <summary>USD per million prompt tokens.</summary>
    public decimal? InputPerMillion { get; set; }

    /// <summary>USD per million completion tokens.</summary>
    public decimal? OutputPerMillion { get; set; }

    /// <summary>An explicit statement that the deployment costs nothing (a missing price is an error).</summary>
    public bool Free { get; set; }
}

public sealed class KeyOptions
{
    /// <summary>Lower-case hex SHA-256 of the key the client presents.</summary>
    public string? Sha256 { get; set; }

    /// <summary>Public model names this key may use; "*" for all.</summary>
    public List<string> Models { get; set; } = [];

    public bool Disabled { get; set; }

    /// <summary>May read everyone's usage at <c>/admin/usage</c>.</summary>
    public bool Admin { get; set; }

    /// <summary>This key's limits; unset fields take <c>Limits:Default</c>.</summary>
    public KeyLimitOptions? Limits { get; set; }

    /// <summary>Turns the response cache on for this key (every model), or, with <c>Enabled: false</c>, off.</summary>
    public CachePolicyOptions? Cache { get; set; }
}
