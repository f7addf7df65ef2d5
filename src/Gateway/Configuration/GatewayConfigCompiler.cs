using System.Collections.Frozen;
using System.Globalization;
using System.Text.RegularExpressions;
using Gateway.Translators.Providers;
using Gateway.Translators.Translation;

namespace Gateway.Configuration;

/// <summary>
/// Validates bound options and compiles them into a <see cref="GatewaySnapshot"/>. Collects every
/// problem, each naming its entry, instead of stopping at the first.
/// </summary>
internal static partial class GatewayConfigCompiler
{
    public static GatewaySnapshot? Compile(GatewayOptions options, Func<string, string?> environment,
        string? bootstrapKey, out List<string> errors, out List<string> warnings)
    {
        errors = [];
        warnings = [];
        var providers = CompileProviders(options, environment, errors, warnings);
        var models = CompileModels(options, providers, errors);
        var limiter = CompileLimiter(options.Limits, errors);
        var keys = CompileKeys(options, models, bootstrapKey, errors, warnings);
        var routing = RoutingSettings.Compile(options.Routing, errors);
        var cache = ResponseCacheSettings.Compile(options.Cache, errors);

        if (options.Server.MaxRequestBodyBytes <= 0)
        {
            errors.Add("Server:MaxRequestBodyBytes: must be a positive number of bytes.");
        }

        if (options.Server.PublicBaseUrl is { } publicUrl && !IsHttpUrl(publicUrl))
        {
            errors.Add($"Server:PublicBaseUrl: '{publicUrl}' is not an absolute http(s) URL.");
        }

        if (options.Server.PublicBaseUrl is null && providers.Values.FirstOrDefault(p => p.Translator is IAsyncTaskProvider) is { } asyncProvider)
        {
            errors.Add($"Server:PublicBaseUrl: required because provider '{asyncProvider.Name}' ({asyncProvider.Translator.Kind}) answers by callback.");
        }

        foreach (var proxy in options.Server.TrustedProxies.Where(p => !TrustedProxies.TryParse(p, out _)))
        {
            errors.Add($"Server:TrustedProxies: '{proxy}' is neither an IP address nor a CIDR network (e.g. 10.0.0.0/8).");
        }

        if (options.Server.MaxCallbackBodyBytes <= 0)
        {
            errors.Add("Server:MaxCallbackBodyBytes: must be a positive number of bytes.");
        }

        if (errors.Count > 0)
        {
            return null;
        }

        return new GatewaySnapshot
        {
            Server = options.Server,
            Redis = options.Redis,
            Limiter = limiter,
            Routing = routing,
            Cache = cache,
            Providers = providers.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase),
            Models = models.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase),
            KeysByHash = keys.ToFrozenDictionary(StringComparer.Ordinal),
            DefaultKeyLimits = options.Limits.Default,
        };
    }

    private static Dictionary<string, ProviderRuntime> CompileProviders(GatewayOptions options, Func<string, string?> environment,
        List<string> errors, List<string> warnings)
    {
        var result = new Dictionary<string, ProviderRuntime>(StringComparer.OrdinalIgnoreCase);
        foreach (var (name, p) in options.Providers)
        {
            var at = $"Providers:{name}";
            var translator = ProviderCatalog.Find(p.Kind);
            if (translator is null)
            {
                errors.Add($"{at}:Kind: '{p.Kind}' is not a known provider kind (known: {string.Join(", ", ProviderCatalog.Kinds)}).");
            }

            if (!IsHttpUrl(p.BaseUrl))
            {
                errors.Add($"{at}:BaseUrl: '{p.BaseUrl}' is not an absolute http(s) URL.");
            }

            if (string.IsNullOrWhiteSpace(p.ApiKeyEnv) || !EnvName().IsMatch(p.ApiKeyEnv))
            {
                errors.Add($"{at}:ApiKeyEnv: must name the environment variable that holds the provider key (e.g. HIVE_API_KEY).");
            }

            Positive(p.ConnectTimeoutSeconds, $"{at}:ConnectTimeoutSeconds", errors);
            Positive(p.ResponseTimeoutSeconds, $"{at}:ResponseTimeoutSeconds", errors);
            Positive(p.StreamIdleTimeoutSeconds, $"{at}:StreamIdleTimeoutSeconds", errors);
            Positive(p.MaxStreamSeconds, $"{at}:MaxStreamSeconds", errors);
            Positive(p.MaxConnections, $"{at}:MaxConnections", errors);
            if (p.RequestsPerSecond is { } rps)
            {
                Positive(rps, $"{at}:RequestsPerSecond", errors);
            }

            if (p.WhenLimited is not ("queue" or "shed"))
            {
                errors.Add($"{at}:WhenLimited: must be 'queue' or 'shed'.");
            }
            if (translator is IAsyncTaskProvider)
            {
                Positive(p.CallbackWaitSeconds, $"{at}:CallbackWaitSeconds", errors);
                Positive(p.PollIntervalSeconds, $"{at}:PollIntervalSeconds", errors);
                Positive(p.TaskTimeoutSeconds, $"{at}:TaskTimeoutSeconds", errors);
                Positive(p.KeepAliveSeconds, $"{at}:KeepAliveSeconds", errors);
            }
            if (translator is null || !IsHttpUrl(p.BaseUrl) || string.IsNullOrWhiteSpace(p.ApiKeyEnv))
            {
                continue;
            }

            var key = environment(p.ApiKeyEnv);
            if (string.IsNullOrEmpty(key))
            {
                warnings.Add($"{at}: environment variable {p.ApiKeyEnv} is not set; requests routed to this provider will fail until it is.");
            }

            result[name] = new ProviderRuntime(name, translator, new Uri(p.BaseUrl!.TrimEnd('/')), p.ApiKeyEnv, key, p);
        }

        return result;
    }

    private static Dictionary<string, ModelRoute> CompileModels(GatewayOptions options, Dictionary<string, ProviderRuntime> providers,
        List<string> errors)
    {
        var result = new Dictionary<string, ModelRoute>(StringComparer.OrdinalIgnoreCase);
        if (options.Models.Count == 0)
        {
            errors.Add("Models: at least one model must be configured.");
        }

        foreach (var (name, m) in options.Models)
        {
            var at = $"Models:{name}";
            if (m.Deployments.Count == 0)
            {
                errors.Add($"{at}:Deployments: at least one deployment is required.");
            }

            var deployments = new List<Deployment>();
            for (var i = 0; i < m.Deployments.Count; i++)
            {
                var deployment = CompileDeployment(name, m.Deployments[i], $"{at}:Deployments:{i}", options, providers, errors);
                if (deployment is not null)
                {
                    deployments.Add(deployment);
                }
            }

            var strategy = RoutingStrategies.Parse(m.Strategy);
            if (strategy is null)
            {
                errors.Add($"{at}:Strategy: '{m.Strategy}' is not a routing strategy (known: {string.Join(", ", RoutingStrategies.Names)}).");
            }

            result[name] = new ModelRoute(name, m.OwnedBy ?? "gateway", m.Created, deployments)
            {
                Strategy = strategy ?? default,
                Cache = CachePolicy.Block.Compile(m.Cache, $"{at}:Cache", errors),
            };
        }

        OneModelPerAsyncProvider(result.Values, errors);
        return result;
    }

    /// <summary>
    /// A Hive V2 key's project chooses the model (the request names none, seed 002): one such provider serves exactly
    /// one upstream model, and two deployments that claim different ones on it are a configuration error.
    /// </summary>
    private static void OneModelPerAsyncProvider(IEnumerable<ModelRoute> routes, List<string> errors)
    {
        foreach (var group in routes.SelectMany(r => r.Deployments).Where(d => d.Provider.Translator is IAsyncTaskProvider).GroupBy(d => d.Provider.Name))
        {
            var models = group.Select(d => d.Target.UpstreamModel).Distinct(StringComparer.Ordinal).ToList();
            if (models.Count > 1)
            {
                errors.Add($"Providers:{group.Key}: a {group.First().Provider.Translator.Kind} key serves the one model of its project, but deployments name " +
                    $"{string.Join(", ", models.Select(m => $"'{m}'"))}; give each model its own provider (and key).");
            }
        }
    }

    private static Deployment? CompileDeployment(string model, DeploymentOptions d, string at, GatewayOptions options,
        Dictionary<string, ProviderRuntime> providers, List<string> errors)
    {
        var ok = true;
        if (string.IsNullOrWhiteSpace(d.Provider) || !options.Providers.ContainsKey(d.Provider))
        {
            errors.Add($"{at}:Provider: '{d.Provider}' is not a configured provider (configured: {string.Join(", ", options.Providers.Keys)}).");
            ok = false;
        }

        if (string.IsNullOrWhiteSpace(d.UpstreamModel))
        {
            errors.Add($"{at}:UpstreamModel: the provider's model id (or Segmind slug) is required.");
            ok = false;
        }

        var price = CompilePrice(d.Price, at, errors);
        if (!(d.Weight > 0 && double.IsFinite(d.Weight)))
        {
            errors.Add($"{at}:Weight: must be a positive number (the deployment's share under the weighted strategy).");
            ok = false;
        }

        UndocumentedPolicy? undocumented = d.Undocumented?.ToLowerInvariant() switch
        {
            null or "reject" => UndocumentedPolicy.Reject,
            "drop" => UndocumentedPolicy.Drop,
            "pass" => UndocumentedPolicy.Pass,
            _ => null,
        };
        if (undocumented is null)
        {
            errors.Add($"{at}:Undocumented: '{d.Undocumented}' must be reject (the default), drop or pass.");
            ok = false;
        }

        if (!ok || price is null || !providers.TryGetValue(d.Provider!, out var provider))
        {
            return null;
        }

        var target = new DeploymentTarget
        {
            PublicModel = model,
            UpstreamModel = d.UpstreamModel!,
            DropParameters = d.DropParameters.ToHashSet(StringComparer.Ordinal),
            ClampParameters = d.ClampParameters.ToHashSet(StringComparer.Ordinal),
            PassParameters = d.PassParameters.ToHashSet(StringComparer.Ordinal),
            Undocumented = undocumented!.Value,
            StreamingOnly = d.StreamingOnly,
            Options = new Dictionary<string, string>(d.Options, StringComparer.OrdinalIgnoreCase),
        };
        return new Deployment(provider, target, price.Value) { Weight = d.Weight };
    }

    private static Price? CompilePrice(PriceOptions? price, string at, List<string> errors)
    {
        if (price is null || (!price.Free && (price.InputPerMillion is null || price.OutputPerMillion is null)))
        {
            // A missing price would meter as $0 without anyone noticing; free must be said out loud.
            errors.Add($"{at}:Price: set InputPerMillion and OutputPerMillion (USD per million tokens), or Free: true.");
            return null;
        }

        if (price.Free)
        {
            return new Price(0, 0);
        }

        var input = ToMicros(price.InputPerMillion!.Value, $"{at}:Price:InputPerMillion", errors);
        var output = ToMicros(price.OutputPerMillion!.Value, $"{at}:Price:OutputPerMillion", errors);
        return input is null || output is null ? null : new Price(input.Value, output.Value);
    }

    private static long? ToMicros(decimal usd, string at, List<string> errors)
    {
        var micros = usd * 1_000_000m;
        if (usd < 0 || micros != decimal.Truncate(micros) || micros > long.MaxValue / 1_000_000)
        {
            errors.Add($"{at}: {usd.ToString(CultureInfo.InvariantCulture)} must be a non-negative USD amount with at most 6 decimals.");
            return null;
        }

        return (long)micros;
    }

    private static Dictionary<string, ClientKey> CompileKeys(GatewayOptions options, Dictionary<string, ModelRoute> models,
        string? bootstrapKey, List<string> errors, List<string> warnings)
    {
        var result = new Dictionary<string, ClientKey>(StringComparer.Ordinal);
        foreach (var (name, k) in options.Keys)
        {
            var at = $"Keys:{name}";
            var hash = k.Sha256?.Trim().ToLowerInvariant();
            if (hash is null || !Sha256Hex().IsMatch(hash))
            {
                errors.Add($"{at}:Sha256: must be the 64-character hex SHA-256 of the key (see README, 'Client keys').");
                continue;
            }

            foreach (var model in k.Models.Where(m => m != "*" && !models.ContainsKey(m)))
            {
                errors.Add($"{at}:Models: '{model}' is not a configured model.");
            }

            var limits = CompileKeyLimits(options.Limits.Default, k.Limits, models, $"{at}:Limits", errors);
            var key = new ClientKey(name, Convert.FromHexString(hash), k.Models.ToHashSet(StringComparer.OrdinalIgnoreCase))
            {
                Limits = limits, IsAdmin = k.Admin, Cache = CachePolicy.Block.Compile(k.Cache, $"{at}:Cache", errors),
            };
            if (!result.TryAdd(hash, key))
            {
                errors.Add($"{at}:Sha256: the same key hash is configured twice ('{result[hash].Name}' and '{name}').");
            }
            else if (k.Disabled)
            {
                result.Remove(hash);
            }
        }

        if (!string.IsNullOrEmpty(bootstrapKey))
        {
            var hash = KeyHasher.HashHex(bootstrapKey);
            // The bootstrap key must not stand in for a configured key, nor share its name (usage and the dashboard go by name).
            if (result.TryGetValue(hash, out var same))
            {
                errors.Add($"{ConfigStore.BootstrapKeyVariable}: it is the key configured as '{same.Name}'; unset it or use another secret.");
                return result;
            }

            if (options.Keys.ContainsKey("bootstrap"))
            {
                errors.Add($"Keys:bootstrap: the name 'bootstrap' is the bootstrap key's while {ConfigStore.BootstrapKeyVariable} is set; rename the key or unset the variable.");
                return result;
            }

            result[hash] = new ClientKey("bootstrap", Convert.FromHexString(hash), new HashSet<string> { "*" })
            {
                Limits = CompileKeyLimits(options.Limits.Default, null, models, "Limits:Default", errors),
            };
            warnings.Add("GATEWAY_BOOTSTRAP_KEY is set: a key named 'bootstrap' may use every model. Configure hashed keys for production.");
        }

        return result;
    }

    private static bool IsHttpUrl(string? value) =>
        Uri.TryCreate(value, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps);

    private static void Positive(double value, string at, List<string> errors)
    {
        if (!(value > 0))
        {
            errors.Add($"{at}: must be greater than zero.");
        }
    }

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]*$")]
    private static partial Regex EnvName();

    [GeneratedRegex("^[0-9a-f]{64}$")]
    private static partial Regex Sha256Hex();
}
