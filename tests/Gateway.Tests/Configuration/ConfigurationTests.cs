using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Gateway.Configuration;
using Gateway.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace Gateway.Tests.Configuration;

/// <summary>gateway.json: validation at start-up, environment overrides, and reload at run time.</summary>
public sealed class ConfigurationTests(GatewayFixture f) : IClassFixture<GatewayFixture>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(15);

    private static JsonObject BrokenConfig(Uri simulator)
    {
        var config = TestConfig.Standard(simulator);
        config["Providers"]!["hive"]!["Kind"] = "hive-v9";
        config["Providers"]!["deepinfra"]!["BaseUrl"] = "not a url";
        config["Providers"]!["segmind"]!["ApiKeyEnv"] = "";
        config["Models"]!["hive-llama"]!["Deployments"]![0]!.AsObject().Remove("Price");
        config["Models"]!["deepinfra-llama"]!["Deployments"]![0]!["Provider"] = "nobody";
        config["Models"]!["segmind-llama"]!["Deployments"]![0]!["Price"]!["InputPerMillion"] = 0.0000001m;
        config["Keys"]!["test"]!["Sha256"] = "abc";
        config["Keys"]!["limited"]!["Models"] = new JsonArray("ghost-model");
        return config;
    }

    [Fact]
    public async Task InvalidFile_FailsStartupNamingEveryBadEntry()
    {
        var ex = await Assert.ThrowsAsync<GatewayConfigurationException>(() => GatewayHost.StartAsync(BrokenConfig(f.Simulator.BaseUrl)));

        string[] expected =
        [
            "Providers:hive:Kind", "Providers:deepinfra:BaseUrl", "Providers:segmind:ApiKeyEnv",
            "Models:hive-llama:Deployments:0:Price", "Models:deepinfra-llama:Deployments:0:Provider",
            "Models:segmind-llama:Deployments:0:Price:InputPerMillion", "Keys:test:Sha256", "Keys:limited:Models",
        ];
        Assert.All(expected, path => Assert.Contains(ex.Problems, p => p.StartsWith(path, StringComparison.Ordinal)));
        Assert.All(expected, path => Assert.Contains(path, ex.Message));
    }

    [Fact]
    public async Task APortInUse_ExitsWithWhatToDo()
    {
        // Another process holds the port (an earlier gateway still draining, say): one line with the next step, exit 1.
        using var holder = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        holder.Start();
        var port = ((System.Net.IPEndPoint)holder.LocalEndpoint).Port;
        var path = await WriteTempConfigAsync(TestConfig.Standard(f.Simulator.BaseUrl).ToJsonString());
        await using var gateway = GatewayProcess.Start(path, null, $"--urls=http://127.0.0.1:{port}");

        Assert.Equal(1, await gateway.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        Assert.Contains("address already in use", gateway.Output, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("start the gateway on another address", gateway.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("Unhandled exception", gateway.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task InvalidFile_ProcessExitsWithOneMessage()
    {
        var path = await WriteTempConfigAsync(BrokenConfig(f.Simulator.BaseUrl).ToJsonString());
        await using var gateway = GatewayProcess.Start(path);

        Assert.Equal(1, await gateway.WaitForExitAsync(TimeSpan.FromSeconds(30)));
        Assert.Contains("Invalid gateway configuration (", gateway.Output);
        Assert.Contains("Providers:hive:Kind", gateway.Output);
        Assert.Contains("Keys:test:Sha256", gateway.Output);
        Assert.DoesNotContain("   at ", gateway.Output);
    }

    [Fact]
    public async Task MalformedJson_FailsStartupWithParserMessage()
    {
        var path = await WriteTempConfigAsync("{ \"Providers\": { ");
        await using var gateway = GatewayProcess.Start(path);

        Assert.Equal(1, await gateway.WaitForExitAsync(TimeSpan.FromSeconds(30)));
        Assert.Contains(path, gateway.Output);
    }

    [Fact]
    public async Task EnvironmentVariables_OverrideFileEntries()
    {
        var config = TestConfig.Standard(f.Simulator.BaseUrl);
        config["Providers"]!["deepinfra"]!["BaseUrl"] = "http://127.0.0.1:9";
        config["Providers"]!["deepinfra"]!["ApiKeyEnv"] = "MY_DEEPINFRA_TOKEN";
        var path = await WriteTempConfigAsync(config.ToJsonString());
        await using var gateway = GatewayProcess.Start(path, new Dictionary<string, string>
        {
            ["Providers__deepinfra__BaseUrl"] = f.Simulator.BaseUrl.ToString(),
            ["MY_DEEPINFRA_TOKEN"] = "sim-deepinfra-key",
            ["GATEWAY_BOOTSTRAP_KEY"] = "sk-bootstrap-123",
        });
        var url = await gateway.WaitUntilListeningAsync();
        using var http = new HttpClient { BaseAddress = url };
        http.DefaultRequestHeaders.Authorization = new("Bearer", "sk-bootstrap-123");

        var (response, body) = await Sse.PostAsync(http, """{"model":"deepinfra-llama","messages":[{"role":"user","content":"via env"}]}""");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("echo: via env", body);
        Assert.DoesNotContain("sim-deepinfra-key", gateway.Output);
        Assert.DoesNotContain("sk-bootstrap-123", gateway.Output);
    }

    [Theory]
    [InlineData(TestConfig.Key, "GATEWAY_BOOTSTRAP_KEY: it is the key configured as 'test'")]
    [InlineData("sk-another-secret", "Keys:bootstrap: the name 'bootstrap' is the bootstrap key's")]
    public async Task BootstrapKey_ThatClashesWithAConfiguredKey_StopsTheStart(string bootstrap, string message)
    {
        // The same secret, or a configured key named 'bootstrap': usage, limits and the dashboard could not tell them apart.
        var config = TestConfig.Standard(f.Simulator.BaseUrl);
        config["Keys"]!["bootstrap"] = new JsonObject { ["Sha256"] = TestConfig.Sha256("sk-configured-bootstrap"), ["Models"] = new JsonArray("*") };
        if (bootstrap == TestConfig.Key)
        {
            ((JsonObject)config["Keys"]!).Remove("bootstrap");
        }

        var path = await WriteTempConfigAsync(config.ToJsonString());
        await using var gateway = GatewayProcess.Start(path, new Dictionary<string, string> { ["GATEWAY_BOOTSTRAP_KEY"] = bootstrap });

        Assert.Equal(1, await gateway.WaitForExitAsync(TimeSpan.FromSeconds(30)));
        Assert.Contains(message, gateway.Output);
        Assert.DoesNotContain(bootstrap, gateway.Output);
    }

    [Fact]
    public async Task FileChange_IsAppliedWithoutRestart()
    {
        var config = TestConfig.Standard(f.Simulator.BaseUrl);
        await using var gateway = await GatewayHost.StartAsync(config);
        config["Models"]!["brand-new"] = TestConfig.Model(("deepinfra", "meta-llama/Meta-Llama-3.1-8B-Instruct"));

        await File.WriteAllTextAsync(gateway.ConfigPath, config.ToJsonString());

        await Infrastructure.Eventually.TrueAsync(async () => (await gateway.Http.GetAsync("/v1/models/brand-new")).StatusCode == HttpStatusCode.OK);
        var (response, _) = await Sse.PostAsync(gateway.Http, """{"model":"brand-new","messages":[{"role":"user","content":"x"}]}""");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    /// <summary>
    /// The reload watches gateway.json's own directory, not the tree below it: from the repository root that tree was 617
    /// directories, and the usage journal below it (here, as in the default layout) woke the watcher at every write.
    /// </summary>
    [Fact]
    public async Task FileWatch_TakesNoDirectoryBelowTheFile()
    {
        var directory = Directory.CreateTempSubdirectory("gateway-test-");
        var below = Enumerable.Range(0, 4).Select(i => directory.CreateSubdirectory($"below-{i}/deeper")).ToList();
        await using var gateway = await GatewayHost.StartAsync(TestConfig.Standard(f.Simulator.BaseUrl), 0, directory);
        // Requests write the journal (below the file's directory): whatever the watch takes, it has taken it by then.
        var (response, _) = await Sse.PostAsync(gateway.Http, """{"model":"hive-llama","messages":[{"role":"user","content":"x"}]}""");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        var watched = Inotify.WatchedInodes();

        Assert.Contains(Inotify.InodeOf(directory.FullName), watched);
        Assert.All(below.SelectMany(d => new[] { d.FullName, d.Parent!.FullName }).Append(gateway.JournalDirectory),
            path => Assert.DoesNotContain(Inotify.InodeOf(path), watched));
    }

    [Fact]
    public async Task FileReplacedByRename_IsApplied()
    {
        // How many editors save: a new file written beside the old, then renamed over it.
        var config = TestConfig.Standard(f.Simulator.BaseUrl);
        await using var gateway = await GatewayHost.StartAsync(config);
        config["Models"]!["renamed-in"] = TestConfig.Model(("deepinfra", "meta-llama/Meta-Llama-3.1-8B-Instruct"));
        var saved = gateway.ConfigPath + ".swp";
        await File.WriteAllTextAsync(saved, config.ToJsonString());

        File.Move(saved, gateway.ConfigPath, overwrite: true);

        await Infrastructure.Eventually.TrueAsync(async () => (await gateway.Http.GetAsync("/v1/models/renamed-in")).StatusCode == HttpStatusCode.OK);
    }

    [Fact]
    public async Task FileChange_IsAppliedWhenPolling()
    {
        // The container's setting (DOTNET_USE_POLLING_FILE_WATCHER, for ConfigMaps): the file is polled, no directory watched.
        var config = TestConfig.Standard(f.Simulator.BaseUrl);
        var path = await WriteTempConfigAsync(config.ToJsonString());
        await using var gateway = GatewayProcess.Start(path, new Dictionary<string, string> { ["DOTNET_USE_POLLING_FILE_WATCHER"] = "1" });
        using var http = new HttpClient { BaseAddress = await gateway.WaitUntilListeningAsync() };
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", TestConfig.Key);
        config["Models"]!["polled-in"] = TestConfig.Model(("deepinfra", "meta-llama/Meta-Llama-3.1-8B-Instruct"));

        await File.WriteAllTextAsync(path, config.ToJsonString());

        // The poll runs every 4 s (the runtime's interval), so this waits longer than the watched reloads.
        await Infrastructure.Eventually.TrueAsync(async () => (await http.GetAsync("/v1/models/polled-in")).StatusCode == HttpStatusCode.OK,
            TimeSpan.FromSeconds(30));
    }

    [Theory]
    [InlineData("{ \"Models\": ")]
    [InlineData("""{"Providers":{"hive":{"Kind":"nonsense","BaseUrl":"http://x","ApiKeyEnv":"X"}},"Models":{}}""")]
    public async Task InvalidChange_KeepsLastGoodConfiguration(string broken)
    {
        var config = TestConfig.Standard(f.Simulator.BaseUrl);
        await using var gateway = await GatewayHost.StartAsync(config);
        var store = gateway.Services.GetRequiredService<ConfigStore>();

        await File.WriteAllTextAsync(gateway.ConfigPath, broken);

        await Infrastructure.Eventually.TrueAsync(() => Task.FromResult(store.RejectedReloads > 0));
        Assert.NotNull(store.LastRejection);
        var (response, _) = await Sse.PostAsync(gateway.Http, """{"model":"hive-llama","messages":[{"role":"user","content":"still here"}]}""");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        // And a later good change is applied again.
        config["Models"]!["after-fix"] = TestConfig.Model(("hive", "meta-llama/llama-3.2-1b-instruct"));
        await File.WriteAllTextAsync(gateway.ConfigPath, config.ToJsonString());
        await Infrastructure.Eventually.TrueAsync(async () => (await gateway.Http.GetAsync("/v1/models/after-fix")).StatusCode == HttpStatusCode.OK);
    }

    [Fact]
    public async Task MissingProviderKey_Returns502WithoutNamingTheVariable()
    {
        var config = TestConfig.Standard(f.Simulator.BaseUrl);
        config["Providers"]!["deepinfra"]!["ApiKeyEnv"] = "GW_TEST_UNSET_VARIABLE";
        await using var gateway = await GatewayHost.StartAsync(config);

        var (response, body) = await Sse.PostAsync(gateway.Http, """{"model":"deepinfra-llama","messages":[{"role":"user","content":"x"}]}""");

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        var error = JsonDocument.Parse(body).RootElement.GetProperty("error");
        Assert.Equal("provider_not_configured", error.GetProperty("code").GetString());
        Assert.DoesNotContain("GW_TEST_UNSET_VARIABLE", body);
    }

    private static async Task<string> WriteTempConfigAsync(string text)
    {
        var directory = Directory.CreateTempSubdirectory("gateway-config-");
        var path = Path.Combine(directory.FullName, "gateway.json");
        await File.WriteAllTextAsync(path, text);
        return path;
    }

}
