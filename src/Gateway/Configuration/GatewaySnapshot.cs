using System.Collections.Frozen;
using Gateway.Translators.Translation;

namespace Gateway.Configuration;

/// <summary>
/// One validated configuration, immutable. A reload builds a new snapshot and swaps it in whole,
/// so a request sees one consistent configuration from start to end.
/// </summary>
internal sealed class GatewaySnapshot
{
    public required ServerOptions Server { get; init; }
    public required RedisOptions Redis { get; init; }
    public required LimiterSettings Limiter { get; init; }
    public RoutingSettings Routing { get; init; } = RoutingSettings.Default;
    public ResponseCacheSettings Cache { get; init; } = ResponseCacheSettings.Default;
    public required FrozenDictionary<string, ProviderRuntime> Providers { get; init; }
    public required FrozenDictionary<string, ModelRoute> Models { get; init; }

    /// <summary>Client keys by the lower-case hex SHA-256 of the presented key.</summary>
    public required FrozenDictionary<string, ClientKey> KeysByHash { get; init; }

    /// <summary><c>Limits:Default</c>, which runtime keys' own limits are compiled over (as configured keys' are).</summary>
    public KeyLimitOptions DefaultKeyLimits { get; init; } = new();

    /// <summary>The models a key may use, in configuration order.</summary>
    public IEnumerable<ModelRoute> ModelsFor(ClientKey key) => Models.Values.Where(key.MayUse).OrderBy(m => m.Name, StringComparer.Ordinal);

    public ModelRoute? FindModel(string name, ClientKey key) =>
        Models.TryGetValue(name, out var route) && key.MayUse(route) ? route : null;
}

/// <summary>A configured provider with its translator; the key is read from the environment, never from the file.</summary>
internal sealed record ProviderRuntime(
    string Name,
    IProvider Translator,
    Uri BaseUrl,
    string ApiKeyEnv,
    string? ApiKey,
    ProviderOptions Options)
{
    public TimeSpan ConnectTimeout => TimeSpan.FromSeconds(Options.ConnectTimeoutSeconds);
    public TimeSpan ResponseTimeout => TimeSpan.FromSeconds(Options.ResponseTimeoutSeconds);
    public TimeSpan StreamIdleTimeout => TimeSpan.FromSeconds(Options.StreamIdleTimeoutSeconds);

    public StreamLimits StreamLimits => new(StreamIdleTimeout, TimeSpan.FromSeconds(Options.MaxStreamSeconds));
    public TimeSpan CallbackWait => TimeSpan.FromSeconds(Options.CallbackWaitSeconds);
    public TimeSpan PollInterval => TimeSpan.FromSeconds(Options.PollIntervalSeconds);
    public TimeSpan TaskTimeout => TimeSpan.FromSeconds(Options.TaskTimeoutSeconds);
    public TimeSpan KeepAlive => TimeSpan.FromSeconds(Options.KeepAliveSeconds);

    /// <summary>
    /// Transport settings that need a new connection pool when they change. Made once: every attempt looks its pool up by
    /// it, and formatting it per request was ~0.3% of a request's CPU.
    /// </summary>
    public string TransportFingerprint { get; } = $"{BaseUrl}|{Options.ConnectTimeoutSeconds}|{Options.MaxConnections}";

    public override string ToString() => $"{Name} ({Translator.Kind})";
}

internal sealed record ModelRoute(string Name, string OwnedBy, long Created, IReadOnlyList<Deployment> Deployments)
{
    public RoutingStrategy Strategy { get; init; }

    /// <summary>The model's <c>Cache</c> block, if it has one.</summary>
    public CachePolicy.Block? Cache { get; init; }
}

internal sealed record Deployment(ProviderRuntime Provider, DeploymentTarget Target, Price Price)
{
    /// <summary>
    /// The deployment's identity across reloads and replicas (its health and circuit are kept under it): the provider and
    /// the upstream model, so two public models served by the same upstream model share one health record.
    /// </summary>
    public string Id { get; } = Provider.Name + "/" + Target.UpstreamModel;

    /// <summary>Relative share under the weighted strategy.</summary>
    public double Weight { get; init; } = 1;

    /// <summary>
    /// Where a chat attempt at this deployment posts (null for a provider that is not a chat provider): made and parsed
    /// once, not per request (a <see cref="Uri"/> parsed per attempt, and its parts computed again by HttpClient, were ~1%
    /// of a request's CPU).
    /// </summary>
    public Uri? ChatUri { get; } = Provider.Translator is IChatProvider chat ? new Uri(Provider.BaseUrl.AbsoluteUri.TrimEnd('/') + chat.RequestPath(Target)) : null;
}

/// <summary>Prices as integer micro-dollars per million tokens: money never goes through floating point.</summary>
internal readonly record struct Price(long InputMicrosPerMillion, long OutputMicrosPerMillion)
{
    /// <summary>Cost in micro-dollars, rounded half away from zero once per request.</summary>
    public long CostMicros(long promptTokens, long completionTokens)
    {
        var scaled = (Int128)promptTokens * InputMicrosPerMillion + (Int128)completionTokens * OutputMicrosPerMillion;
        return (long)((scaled + 500_000) / 1_000_000);
    }
}

internal sealed record ClientKey(string Name, byte[] Hash, IReadOnlySet<string> Models)
{
    /// <summary>
    /// The key's identity for per-key state that other keys must never inherit (cache scope, limit counters, circuit
    /// evidence): derived from the secret's hash, so a name reused for a new key, or two configurations that happen to
    /// use the same name, never share it. Not secret, and not the hash itself.
    /// </summary>
    /// <remarks>A runtime key keeps the identity it was created with across rotations (its own stored id).</remarks>
    public string Id { get; init; } = KeyHasher.IdentityOf(Hash);

    public KeyLimits Limits { get; init; } = KeyLimits.None;

    public bool IsAdmin { get; init; }

    /// <summary>The key's <c>Cache</c> block, if it has one.</summary>
    public CachePolicy.Block? Cache { get; init; }

    public bool AllowsAllModels => Models.Count == 0 || Models.Contains("*");

    public bool MayUse(ModelRoute route) => AllowsAllModels || Models.Contains(route.Name);
}
