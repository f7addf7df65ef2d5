using System.Collections;
using System.Globalization;
using System.Net;
using System.Reflection;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Gateway.Configuration;
using Gateway.Lifecycle;
using Gateway.Metering;
using Gateway.Telemetry;
using Gateway.Tests.Infrastructure;
using Microsoft.Extensions.Configuration;
using YamlDotNet.RepresentationModel;

namespace Gateway.Tests.Deploy;

/// <summary>
/// The deployment files (deploy/, Dockerfile) against what the gateway really serves and reads: probe paths answer,
/// ports agree, every environment variable names a real setting (or a key the configuration points at), and the
/// shutdown windows are long enough for the gateway's drain and grace.
/// </summary>
public sealed partial class ManifestTests
{
    private static readonly string Root = Path.Combine(AppContext.BaseDirectory, "deploy");

    private static YamlMappingNode Yaml(string file)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(File.ReadAllText(Path.Combine(Root, file))));
        return (YamlMappingNode)stream.Documents[0].RootNode;
    }

    private static YamlNode At(YamlNode node, params object[] path)
    {
        foreach (var step in path)
        {
            node = step is int i ? ((YamlSequenceNode)node).Children[i] : ((YamlMappingNode)node).Children[new YamlScalarNode((string)step)];
        }

        return node;
    }

    private static string Scalar(YamlNode node, params object[] path) => ((YamlScalarNode)At(node, path)).Value!;

    /// <summary>A mapping with its YAML merge key (<c>&lt;&lt;: *anchor</c>) applied: own entries win.</summary>
    private static YamlMappingNode Merged(YamlMappingNode node)
    {
        var merged = new YamlMappingNode();
        foreach (var (key, value) in node.Children.Where(c => ((YamlScalarNode)c.Key).Value != "<<"))
        {
            merged.Add(key, value);
        }

        if (node.Children.TryGetValue(new YamlScalarNode("<<"), out var template))
        {
            foreach (var (key, value) in Merged((YamlMappingNode)template).Children.Where(c => !merged.Children.ContainsKey(c.Key)))
            {
                merged.Add(key, value);
            }
        }

        return merged;
    }

    [Fact]
    public async Task Kubernetes_ProbesPortsAndVariables_MatchTheGateway()
    {
        var deployment = Yaml("kubernetes/deployment.yaml");
        var pod = At(deployment, "spec", "template", "spec");
        var container = At(pod, "containers", 0);
        var env = ((YamlSequenceNode)At(container, "env")).Children.ToDictionary(e => Scalar(e, "name"), e => Scalar(e, "value"));
        var ports = ((YamlSequenceNode)At(container, "ports")).Children.ToDictionary(p => Scalar(p, "name"), p => int.Parse(Scalar(p, "containerPort"), CultureInfo.InvariantCulture));

        // Ports: the listener and the metrics port are the ones the gateway is told to use.
        Assert.Equal(ports["http"], PortOf(env["ASPNETCORE_URLS"]));
        Assert.Equal(ports["metrics"], int.Parse(env["Telemetry__Prometheus__Port"], CultureInfo.InvariantCulture));
        Assert.Equal(ports["metrics"], int.Parse(Scalar(deployment, "spec", "template", "metadata", "annotations", "prometheus.io/port"), CultureInfo.InvariantCulture));

        // Probes: the paths the gateway serves, on its http port.
        var probes = new[] { "startupProbe", "readinessProbe", "livenessProbe" }.ToDictionary(p => p, p => Scalar(container, p, "httpGet", "path"));
        Assert.All(new[] { "startupProbe", "readinessProbe", "livenessProbe" }, p => Assert.Equal("http", Scalar(container, p, "httpGet", "port")));
        Assert.Equal("/readyz", probes["readinessProbe"]);
        Assert.Equal("/healthz", probes["livenessProbe"]);
        await AssertServedAsync(probes.Values);

        // Every variable is a real setting; the secret holds exactly what the configuration points at.
        var configJson = JsonNode.Parse(Scalar(Yaml("kubernetes/configmap.yaml"), "data", "gateway.json"))!;
        var secret = ((YamlMappingNode)At(Yaml("kubernetes/secret.yaml"), "stringData")).Children.Keys.Select(k => ((YamlScalarNode)k).Value!).ToList();
        var pointedAt = PointedAtVariables(configJson, env);
        AssertKnownVariables(env.Keys.Concat(secret), pointedAt);
        Assert.Subset(secret.ToHashSet(), pointedAt.Where(v => v != ConfigStore.BootstrapKeyVariable).ToHashSet());

        // Mounts: the configuration where GATEWAY_CONFIG says, the journal on the writable volume.
        var mounts = ((YamlSequenceNode)At(container, "volumeMounts")).Children.ToDictionary(m => Scalar(m, "name"), m => Scalar(m, "mountPath"));
        Assert.Equal(mounts["config"], Path.GetDirectoryName(env["GATEWAY_CONFIG"]));
        Assert.StartsWith(mounts["usage"] + "/", env["Metering__JournalDirectory"]);
        Assert.Equal("true", Scalar(container, "securityContext", "readOnlyRootFilesystem"));
        Assert.Equal("true", Scalar(pod, "securityContext", "runAsNonRoot"));

        // The grace period outlasts the drain, the grace and the usage flush.
        var lifecycle = new LifecycleOptions
        {
            DrainDelaySeconds = double.Parse(env["Lifecycle__DrainDelaySeconds"], CultureInfo.InvariantCulture),
            ShutdownGraceSeconds = double.Parse(env["Lifecycle__ShutdownGraceSeconds"], CultureInfo.InvariantCulture),
        };
        Assert.True(int.Parse(Scalar(pod, "terminationGracePeriodSeconds"), CultureInfo.InvariantCulture) >= lifecycle.DrainDelaySeconds + lifecycle.ShutdownGraceSeconds + 10);

        // The Service and the other objects point at the Deployment's pods and ports.
        var service = Yaml("kubernetes/service.yaml");
        Assert.All(((YamlSequenceNode)At(service, "spec", "ports")).Children, p => Assert.Contains(Scalar(p, "targetPort"), ports.Keys));
        Assert.Equal("llm-gateway", Scalar(Yaml("kubernetes/hpa.yaml"), "spec", "scaleTargetRef", "name"));
        Assert.Equal("llm-gateway", Scalar(Yaml("kubernetes/pdb.yaml"), "spec", "selector", "matchLabels", "app.kubernetes.io/name"));
        // The configuration in the ConfigMap is one the gateway accepts, and the repository's own (its per-deployment
        // parameter decisions included: ShippedConfigurationTests runs that one).
        AssertValidConfiguration(configJson, env);
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "shipped", "gateway.json"))), configJson),
            "deploy/kubernetes/configmap.yaml holds a gateway.json other than the repository's");
    }

    [Fact]
    public void Compose_VariablesAndShutdownWindow_MatchTheGateway()
    {
        var compose = Yaml("compose.yaml");
        foreach (var name in new[] { "gateway-1", "gateway-2", "gateway-3" })
        {
            var service = Merged((YamlMappingNode)At(compose, "services", name));
            var env = ((YamlMappingNode)At(service, "environment")).Children.ToDictionary(e => ((YamlScalarNode)e.Key).Value!, e => ((YamlScalarNode)e.Value).Value!);
            var config = JsonNode.Parse(File.ReadAllText(Path.Combine(Root, "gateway.demo.json")))!;
            AssertKnownVariables(env.Keys, PointedAtVariables(config, env));
            AssertValidConfiguration(config, env);
            Assert.Equal("true", Scalar(service, "read_only"));
            Assert.True(Seconds(Scalar(service, "stop_grace_period")) >= new LifecycleOptions().DrainDelaySeconds + new LifecycleOptions().ShutdownGraceSeconds + 10);
            var volumes = ((YamlSequenceNode)At(service, "volumes")).Children.Select(v => ((YamlScalarNode)v).Value!).ToList();
            Assert.Contains(volumes, v => v.EndsWith(":/etc/gateway/gateway.json:ro", StringComparison.Ordinal));
            Assert.Contains(volumes, v => v.EndsWith(":/var/lib/gateway", StringComparison.Ordinal));

            // X-Forwarded-For is believed from the balancer's one address only, never from a network its neighbours share.
            var trusted = env.Where(e => e.Key.StartsWith("Server__TrustedProxies__", StringComparison.Ordinal)).Select(e => e.Value).ToList();
            Assert.Equal(["172.28.0.10/32"], trusted);
        }

        Assert.Equal("172.28.0.10", Scalar(compose, "services", "lb", "networks", "default", "ipv4_address"));
        Assert.Equal("172.28.0.0/24", Scalar(At(compose, "networks", "default", "ipam", "config", 0), "subnet"));
    }

    [Fact]
    public void Kubernetes_TrustsNoProxyNetwork_ForForwardedAddresses()
    {
        var container = At(Yaml("kubernetes/deployment.yaml"), "spec", "template", "spec", "containers", 0);
        var env = ((YamlSequenceNode)At(container, "env")).Children.Select(e => Scalar(e, "name")).ToList();
        // Any pod could otherwise claim any client address; an operator lists only the ingress controller's pods.
        Assert.DoesNotContain(env, n => n.StartsWith("Server__TrustedProxies", StringComparison.Ordinal));
    }

    [Fact]
    public void LoadBalancer_ChecksReadiness_OnTheGatewaysPort_AndOutwaitsStreams()
    {
        var cfg = File.ReadAllText(Path.Combine(Root, "haproxy/haproxy.cfg"));

        Assert.Contains("option httpchk GET /readyz", cfg);
        Assert.Contains("option forwardfor", cfg);
        Assert.All(ServerLine().Matches(cfg), m => Assert.Equal(8080, int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture)));
        // A stream may last MaxStreamSeconds: the balancer must not cut it sooner.
        var server = Regex.Match(cfg, @"timeout server (\d+)m");
        Assert.True(int.Parse(server.Groups[1].Value, CultureInfo.InvariantCulture) * 60 >= new ProviderOptions().MaxStreamSeconds);
        // Failing 2 checks 1 s apart takes less than the drain delay: traffic leaves before the listener closes.
        Assert.True(2 * 1 < new LifecycleOptions().DrainDelaySeconds);
    }

    [Fact]
    public void Dockerfile_PortVolumeAndUser_MatchTheGateway()
    {
        var dockerfile = File.ReadAllText(Path.Combine(Root, "Dockerfile"));

        Assert.Contains("EXPOSE 8080", dockerfile);
        Assert.Contains("ASPNETCORE_URLS=http://+:8080", dockerfile);
        Assert.Contains("Metering__JournalDirectory=/var/lib/gateway/usage", dockerfile);
        Assert.Contains("VOLUME /var/lib/gateway", dockerfile);
        Assert.Contains("GATEWAY_CONFIG=/etc/gateway/gateway.json", dockerfile);
        Assert.Matches(@"USER \$\{APP_UID\}", dockerfile);
        Assert.Contains("ARG SDK_IMAGE=mcr.microsoft.com/dotnet/sdk:10.0", dockerfile);
        Assert.Contains("ARG RUNTIME_IMAGE=mcr.microsoft.com/dotnet/runtime-deps:10.0", dockerfile);
    }

    /// <summary>
    /// The benchmarks run the gateway and the floor relay with the image's JIT settings (bench/lib.sh), so that every
    /// figure in bench/ is of what ships: the JIT alone moves CPU per request by ~40% (docs/performance.md).
    /// </summary>
    [Fact]
    public void Benchmarks_RunTheImagesJitSettings()
    {
        var dockerfile = File.ReadAllText(Path.Combine(Root, "Dockerfile"));
        var bench = File.ReadAllText(Path.Combine(Root, "bench-lib.sh"));

        var image = RuntimeKnobs().Matches(dockerfile).Select(m => m.Value).Order().ToList();
        var line = Regex.Match(bench, "^container_jit=\"(?<knobs>[^\"]*)\"", RegexOptions.Multiline);
        Assert.True(line.Success, "bench/lib.sh sets container_jit");
        var benchmarks = RuntimeKnobs().Matches(line.Groups["knobs"].Value).Select(m => m.Value).Order().ToList();

        Assert.NotEmpty(image);
        Assert.Equal(image, benchmarks);
    }

    // The runtime's JIT and tiering settings, NAME=value.
    [GeneratedRegex(@"DOTNET_(Tiered\w*|TC_\w+|ReadyToRun|TieredPGO)=\w+")]
    private static partial Regex RuntimeKnobs();

    private static async Task AssertServedAsync(IEnumerable<string> paths)
    {
        await using var simulator = await SimulatorHost.StartAsync();
        await using var gateway = await GatewayHost.StartAsync(TestConfig.Standard(simulator.BaseUrl));
        foreach (var path in paths.Distinct())
        {
            using var response = await gateway.Http.GetAsync(path);
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"{path}: {(int)response.StatusCode}");
        }
    }

    /// <summary>The file, with the deployment's own settings (<paramref name="env"/>) over it, as the gateway would read them.</summary>
    private static void AssertValidConfiguration(JsonNode config, IReadOnlyDictionary<string, string>? env = null)
    {
        var options = new GatewayOptions();
        new ConfigurationBuilder()
            .AddJsonStream(new MemoryStream(System.Text.Encoding.UTF8.GetBytes(config.ToJsonString())))
            .AddInMemoryCollection((env ?? new Dictionary<string, string>()).Select(e => KeyValuePair.Create(e.Key.Replace("__", ":", StringComparison.Ordinal), (string?)e.Value)))
            .Build().Bind(options);
        var snapshot = GatewayConfigCompiler.Compile(options, _ => "set", "bootstrap", out var errors, out _);
        Assert.True(snapshot is not null, string.Join("\n", errors));
    }

    /// <summary>Variables the configuration names: provider keys (ApiKeyEnv), the callback secret, the bootstrap key.</summary>
    private static HashSet<string> PointedAtVariables(JsonNode config, IReadOnlyDictionary<string, string> env)
    {
        var names = config["Providers"]!.AsObject().Select(p => p.Value!["ApiKeyEnv"]!.GetValue<string>()).ToHashSet(StringComparer.Ordinal);
        names.Add(env.TryGetValue("Server__CallbackSigningKeyEnv", out var callback) ? callback : config["Server"]?["CallbackSigningKeyEnv"]?.GetValue<string>() ?? "");
        names.Add(ConfigStore.BootstrapKeyVariable);
        names.Remove("");
        return names;
    }

    private static void AssertKnownVariables(IEnumerable<string> names, HashSet<string> pointedAt)
    {
        foreach (var name in names)
        {
            var known = pointedAt.Contains(name) || name is "GATEWAY_CONFIG" or "ASPNETCORE_URLS"
                || name.StartsWith("DOTNET_", StringComparison.Ordinal) || name.StartsWith("OTEL_", StringComparison.Ordinal)
                || (name.Contains("__", StringComparison.Ordinal) && IsSetting(name.Split("__")));
            Assert.True(known, $"environment variable {name} is neither a gateway setting nor one its configuration names");
        }
    }

    private static readonly Dictionary<string, Type> Sections = new(StringComparer.OrdinalIgnoreCase)
    {
        ["Server"] = typeof(ServerOptions), ["Redis"] = typeof(RedisOptions), ["Limits"] = typeof(LimitsOptions),
        ["Providers"] = typeof(Dictionary<string, ProviderOptions>), ["Models"] = typeof(Dictionary<string, ModelOptions>),
        ["Keys"] = typeof(Dictionary<string, KeyOptions>), ["Metering"] = typeof(MeteringSettings), ["Telemetry"] = typeof(TelemetryOptions),
        ["Lifecycle"] = typeof(LifecycleOptions),
    };

    private static bool IsSetting(string[] path) => Sections.TryGetValue(path[0], out var type) && Resolves(type, path.AsSpan(1));

    private static bool Resolves(Type type, ReadOnlySpan<string> rest)
    {
        if (rest.IsEmpty)
        {
            return type.IsPrimitive || type == typeof(string) || type == typeof(decimal) || Nullable.GetUnderlyingType(type) is not null;
        }

        if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(Dictionary<,>))
        {
            return Resolves(type.GetGenericArguments()[1], rest[1..]);
        }

        if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(List<>))
        {
            return int.TryParse(rest[0], out _) && Resolves(type.GetGenericArguments()[0], rest[1..]);
        }

        var property = type.GetProperty(rest[0], BindingFlags.Public | BindingFlags.Instance | BindingFlags.IgnoreCase);
        return property is { CanWrite: true } && Resolves(property.PropertyType, rest[1..]);
    }

    private static int PortOf(string urls) => int.Parse(urls[(urls.LastIndexOf(':') + 1)..].TrimEnd('/'), CultureInfo.InvariantCulture);

    private static double Seconds(string duration) => duration.EndsWith('s') ? double.Parse(duration[..^1], CultureInfo.InvariantCulture) : throw new FormatException(duration);

    [GeneratedRegex(@"server \S+ \S+:(\d+) check")]
    private static partial Regex ServerLine();
}
