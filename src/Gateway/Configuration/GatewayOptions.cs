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
}

public sealed class ServerOptions
{
    /// <summary>Largest accepted request body; larger ones get 413.</summary>
    public long MaxRequestBodyBytes { get; set; } = 4 * 1024 * 1024;

    /// <summary>The URL clients and providers reach this gateway at (used for provider callbacks).</summary>
    public string? PublicBaseUrl { get; set; }
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

    /// <summary>Longest silence between two events of a stream.</summary>
    public double StreamIdleTimeoutSeconds { get; set; } = 60;

    public int MaxConnections { get; set; } = 1024;
}

public sealed class ModelOptions
{
    public string? OwnedBy { get; set; }

    /// <summary>Unix seconds shown as <c>created</c> in /v1/models.</summary>
    public long Created { get; set; }

    /// <summary>Tried in order; the next one serves the request when one fails before answering.</summary>
    public List<DeploymentOptions> Deployments { get; set; } = [];
}

public sealed class DeploymentOptions
{
    public string? Provider { get; set; }

    /// <summary>The provider's model id, or URL slug for Segmind.</summary>
    public string? UpstreamModel { get; set; }

    public PriceOptions? Price { get; set; }

    /// <summary>The provider answers this model only as a stream; non-streaming clients get it collected.</summary>
    public bool StreamingOnly { get; set; }

    /// <summary>Parameters the provider cannot honour that may be dropped silently instead of rejected ("*" = all).</summary>
    public List<string> DropParameters { get; set; } = [];

    /// <summary>Parameters that may be clamped into the provider's range instead of rejected.</summary>
    public List<string> ClampParameters { get; set; } = [];
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
}
