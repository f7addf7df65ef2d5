namespace Gateway.Configuration;

/// <summary>
/// The top-level <c>Cache</c> section: defaults for every model or key that turns the cache on, and how the cache
/// behaves. The cache itself is off until a model or a key has a <c>Cache</c> block (<see cref="CachePolicyOptions"/>).
/// </summary>
public sealed class ResponseCacheOptions
{
    /// <summary>How long an answer is kept, unless a model, a key or the request's <c>x-gateway-cache-ttl</c> says less.</summary>
    public double TtlSeconds { get; set; } = 3600;

    /// <summary>Answers larger than this (as stored) are not kept.</summary>
    public long MaxEntryBytes { get; set; } = 256 * 1024;

    /// <summary><c>key</c> (the default: one key's entries serve only that key) or <c>shared</c> (every key).</summary>
    public string Scope { get; set; } = "key";

    /// <summary>Longest an identical request waits for the one already in flight before calling the provider itself.</summary>
    public double CoalesceWaitSeconds { get; set; } = 30;

    /// <summary>Whether a hit counts against the key's request rate (its tokens never count against the token rate).</summary>
    public bool CountHitsAsRequests { get; set; } = true;

    /// <summary>Longest a lookup waits for the cache (Redis) before the request goes on as a miss.</summary>
    public int LookupTimeoutMilliseconds { get; set; } = 150;
}

/// <summary>
/// A <c>Cache</c> block on a model or a key: its presence turns the cache on for that model or key. Unset fields
/// take the key's block, then the model's, then the top-level <c>Cache</c> section.
/// </summary>
public sealed class CachePolicyOptions
{
    /// <summary><c>false</c> turns the cache off here (a key opting out of a model's cache); absent means on.</summary>
    public bool? Enabled { get; set; }

    public double? TtlSeconds { get; set; }
    public long? MaxEntryBytes { get; set; }
    public string? Scope { get; set; }

    /// <summary>
    /// Also cache requests that sample (<c>temperature</c> above 0 or unset, without <c>seed</c>; or <c>n</c> above 1):
    /// they would get a different answer each time, so by default they bypass the cache.
    /// </summary>
    public bool? CacheSampled { get; set; }

    /// <summary>Also cache requests that offer <c>tools</c> (by default they bypass: a tool call is an action, not an answer).</summary>
    public bool? CacheTools { get; set; }

    /// <summary>
    /// <c>"Cache": {}</c> turns the cache on with the defaults, but the configuration binder leaves an empty object unbound
    /// (null): such blocks are found here by their key and given the defaults.
    /// </summary>
    internal static void BindEmptyBlocks(IConfiguration configuration, Configuration.GatewayOptions options)
    {
        foreach (var (name, model) in options.Models)
        {
            if (model.Cache is null && Present(configuration.GetSection("Models").GetSection(name)))
            {
                model.Cache = new CachePolicyOptions();
            }
        }

        foreach (var (name, key) in options.Keys)
        {
            if (key.Cache is null && Present(configuration.GetSection("Keys").GetSection(name)))
            {
                key.Cache = new CachePolicyOptions();
            }
        }

        static bool Present(IConfigurationSection owner) =>
            owner.GetChildren().Any(c => string.Equals(c.Key, "Cache", StringComparison.OrdinalIgnoreCase));
    }
}
