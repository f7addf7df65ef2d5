using System.Net;
using System.Text.Json;
using Gateway.Tests.Infrastructure;

namespace Gateway.Tests.Lifecycle;

/// <summary>A replica's life behind a load balancer, in a real process: start, readiness, and a SIGTERM under traffic.</summary>
public sealed class LifecycleTests : IAsyncLifetime
{
    private SimulatorHost _simulator = null!;

    public async Task InitializeAsync() => _simulator = await SimulatorHost.StartAsync();

    public async Task DisposeAsync() => await _simulator.DisposeAsync();

    private async Task<(GatewayProcess Process, string Journal)> StartAsync(System.Text.Json.Nodes.JsonObject? config = null, params string[] args)
    {
        var directory = Directory.CreateTempSubdirectory("gateway-lifecycle-");
        var path = Path.Combine(directory.FullName, "gateway.json");
        await File.WriteAllTextAsync(path, (config ?? TestConfig.Standard(_simulator.BaseUrl)).ToJsonString());
        var journal = Path.Combine(directory.FullName, "journal");
        var gateway = GatewayProcess.Start(path, new Dictionary<string, string> { ["GW_TEST_DEEPINFRA_KEY"] = "sim-deepinfra-key" },
            [$"--Metering:JournalDirectory={journal}", .. args]);
        return (gateway, journal);
    }

    [Fact]
    public async Task Sigterm_DrainsThenGivesGrace_ThenEndsStreamsWithAnErrorEvent_AndMetersThem()
    {
        var (gateway, journal) = await StartAsync(null, "--Lifecycle:DrainDelaySeconds=2", "--Lifecycle:ShutdownGraceSeconds=2",
            "--Logging:LogLevel:Gateway=Information");
        await using var _ = gateway;
        var url = await gateway.WaitUntilListeningAsync();
        using var http = new HttpClient { BaseAddress = url, Timeout = TimeSpan.FromSeconds(30) };
        http.DefaultRequestHeaders.Authorization = new("Bearer", TestConfig.Key);
        Assert.Equal("ready", await http.GetStringAsync("/readyz"));
        var requestId = Sse.NewRequestId();
        using var stream = await OpenStream.StartAsync(url, TestConfig.Key,
            """{"model":"deepinfra-llama","stream":true,"messages":[{"role":"user","content":"long [sim words=40 chunk_delay_ms=250]"}]}""", requestId);
        Assert.StartsWith("data: ", await stream.ReadLineAsync());

        await gateway.TerminateAsync();

        // At once (as soon as the signal is handled): not ready any more, but still serving everything, new requests included.
        string? readiness = null;
        await Eventually.TrueAsync(async () =>
        {
            using var probe = await http.GetAsync("/readyz");
            readiness = $"{(int)probe.StatusCode} {await probe.Content.ReadAsStringAsync()}";
            return readiness == "503 draining";
        }, TimeSpan.FromSeconds(1), $"/readyz did not turn 503 at once ({readiness})");
        var (during, _) = await Sse.PostAsync(http, """{"model":"deepinfra-llama","messages":[{"role":"user","content":"still here?"}]}""");
        Assert.Equal(HttpStatusCode.OK, during.StatusCode);

        // The stream outlives drain + grace (10 s of chunks): it ends with the gateway's error event, not a cut.
        var rest = await stream.ReadToEndAsync();
        var events = Sse.DataLines(rest.TrimStart('\n'));
        Assert.Equal("server_shutting_down", JsonDocument.Parse(events[^1]).RootElement.GetProperty("error").GetProperty("code").GetString());
        Assert.DoesNotContain("[DONE]", rest);
        Assert.Equal(0, await gateway.WaitForExitAsync(TimeSpan.FromSeconds(30)));

        // Its usage was written before the process left, saying who ended it.
        var record = Directory.EnumerateFiles(journal, "usage-*.jsonl").SelectMany(File.ReadAllLines)
            .Select(l => JsonDocument.Parse(l).RootElement).Single(r => r.GetProperty("request_id").GetString() == requestId);
        Assert.Equal("server_shutting_down", record.GetProperty("outcome").GetString());
        Assert.True(record.GetProperty("completion_tokens").GetInt32() > 0);
        Assert.DoesNotContain("   at ", gateway.Output);
    }

    [Fact]
    public async Task FirstRun_WithoutClientKeys_SaysWhatToDo_AndVerboseReadinessKeepsItsDetailForAdmins()
    {
        var config = TestConfig.Standard(_simulator.BaseUrl);
        config["Keys"] = new System.Text.Json.Nodes.JsonObject();
        config["Providers"]!["segmind"]!["ApiKeyEnv"] = "GW_TEST_UNSET_KEY";
        var (gateway, _) = await StartAsync(config, "--Logging:LogLevel:Default=Information");
        await using var __ = gateway;
        var url = await gateway.WaitUntilListeningAsync();
        using var http = new HttpClient { BaseAddress = url };

        await Eventually.TrueAsync(() => Task.FromResult(gateway.Output.Contains("GATEWAY_BOOTSTRAP_KEY", StringComparison.Ordinal)),
            because: "nothing said how to get a client key");
        Assert.Contains("No client keys", gateway.Output);
        // Variables the process does not have are named, with the provider that needs them.
        Assert.Contains("GW_TEST_UNSET_KEY is not set", gateway.Output);
        // The detail is an admin key's (TenantTests has the admin's view); a stranger learns the state and where to look.
        using var verbose = await http.GetAsync("/readyz?verbose");
        Assert.Equal(HttpStatusCode.OK, verbose.StatusCode);
        var body = await verbose.Content.ReadAsStringAsync();
        Assert.Equal("ready", JsonDocument.Parse(body).RootElement.GetProperty("status").GetString());
        Assert.Contains("admin key", JsonDocument.Parse(body).RootElement.GetProperty("checks").GetString());
        Assert.DoesNotContain("GW_TEST_UNSET_KEY", body);
    }

    [Fact]
    public async Task UnwritableJournal_IsOneLineAtStart_NotAStackTrace()
    {
        var (gateway, _) = await StartAsync(null, "--Metering:JournalDirectory=/proc/gateway-journal");
        await using var __ = gateway;

        Assert.Equal(1, await gateway.WaitForExitAsync(TimeSpan.FromSeconds(30)));
        Assert.Contains("Metering:JournalDirectory: '/proc/gateway-journal' cannot be written", gateway.Output);
        Assert.DoesNotContain("   at ", gateway.Output);
    }
}
