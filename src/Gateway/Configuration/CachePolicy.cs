namespace Gateway.Configuration;

/// <summary>The cache settings of one configuration, compiled and checked.</summary>
internal sealed record ResponseCacheSettings(TimeSpan CoalesceWait, bool CountHitsAsRequests, TimeSpan LookupTimeout, CachePolicy Defaults)
{
    public static readonly ResponseCacheSettings Default = Compile(new ResponseCacheOptions(), []);

    public static ResponseCacheSettings Compile(ResponseCacheOptions options, List<string> errors)
    {
        if (options.CoalesceWaitSeconds < 0)
        {
            errors.Add("Cache:CoalesceWaitSeconds: must be 0 (no coalescing) or more.");
        }

        if (options.LookupTimeoutMilliseconds <= 0)
        {
            errors.Add("Cache:LookupTimeoutMilliseconds: must be a positive number of milliseconds.");
        }

        var defaults = new CachePolicy(true, TimeSpan.Zero, 0, false, false, false);
        var policy = CachePolicy.Over(defaults, new CachePolicyOptions
        {
            TtlSeconds = options.TtlSeconds, MaxEntryBytes = options.MaxEntryBytes, Scope = options.Scope,
        }, "Cache", errors);
        return new ResponseCacheSettings(TimeSpan.FromSeconds(Math.Max(options.CoalesceWaitSeconds, 0)), options.CountHitsAsRequests,
            TimeSpan.FromMilliseconds(Math.Max(options.LookupTimeoutMilliseconds, 1)), policy);
    }

    /// <summary>
    /// The policy for a request: the key's block over the model's over the defaults; null when neither the model nor the
    /// key has a block, or the nearer one says <c>Enabled: false</c>.
    /// </summary>
    public CachePolicy? For(CachePolicy.Block? model, CachePolicy.Block? key)
    {
        if (model is null && key is null)
        {
            return null;
        }

        var policy = key?.Apply(model?.Apply(Defaults) ?? Defaults) ?? model!.Apply(Defaults);
        return policy.Enabled ? policy : null;
    }
}

/// <summary>How answers of one model for one key are cached.</summary>
internal sealed record CachePolicy(bool Enabled, TimeSpan Ttl, long MaxEntryBytes, bool Shared, bool CacheSampled, bool CacheTools)
{
    /// <summary>A model's or a key's <c>Cache</c> block, checked; applied field by field over a less specific policy.</summary>
    internal sealed record Block(CachePolicyOptions Options)
    {
        public CachePolicy Apply(CachePolicy under) => new(
            Options.Enabled ?? true,
            Options.TtlSeconds is { } ttl ? TimeSpan.FromSeconds(ttl) : under.Ttl,
            Options.MaxEntryBytes ?? under.MaxEntryBytes,
            Options.Scope is { } scope ? scope == "shared" : under.Shared,
            Options.CacheSampled ?? under.CacheSampled,
            Options.CacheTools ?? under.CacheTools);

        public static Block? Compile(CachePolicyOptions? options, string at, List<string> errors)
        {
            if (options is null)
            {
                return null;
            }

            Check(options, at, errors);
            return new Block(options);
        }
    }

    /// <summary>Checks the fields that are set and applies them over <paramref name="under"/>.</summary>
    public static CachePolicy Over(CachePolicy under, CachePolicyOptions options, string at, List<string> errors)
    {
        Check(options, at, errors);
        return new Block(options).Apply(under);
    }

    /// <summary>Names every field that is set to something the cache cannot use.</summary>
    private static void Check(CachePolicyOptions options, string at, List<string> errors)
    {
        if (options.TtlSeconds is <= 0 or > 365 * 86400)
        {
            errors.Add($"{at}:TtlSeconds: must be more than 0 and at most a year.");
        }

        if (options.MaxEntryBytes is <= 0)
        {
            errors.Add($"{at}:MaxEntryBytes: must be a positive number of bytes.");
        }

        if (options.Scope is not (null or "key" or "shared"))
        {
            errors.Add($"{at}:Scope: must be 'key' (each key its own entries, the default) or 'shared' (every key).");
        }
    }
}
