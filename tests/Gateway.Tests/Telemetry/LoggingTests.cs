using System.Net;
using System.Text.Json;
using Gateway.Tests.Infrastructure;

namespace Gateway.Tests.Telemetry;

/// <summary>The gateway's console log, read from a real process: one access line per request, and no secrets at any level.</summary>
public sealed class LoggingTests : IAsyncLifetime
{
    private SimulatorHost _simulator = null!;

    public async Task InitializeAsync() => _simulator = await SimulatorHost.StartAsync();

    public async Task DisposeAsync() => await _simulator.DisposeAsync();

    private async Task<(GatewayProcess Gateway, HttpClient Http)> StartAsync(params string[] levels)
    {
        var port = FreePort.Get();
        var directory = Directory.CreateTempSubdirectory("gateway-logging-");
        var path = Path.Combine(directory.FullName, "gateway.json");
        var config = TestConfig.Standard(_simulator.BaseUrl).WithHiveV2(_simulator.BaseUrl, $"http://127.0.0.1:{port}");
        await File.WriteAllTextAsync(path, config.ToJsonString());
        var environment = new Dictionary<string, string>
        {
            ["GW_TEST_HIVE_V2_KEY"] = "sim-hive-v2-key",
            ["GW_TEST_DEEPINFRA_KEY"] = "sim-deepinfra-key",
            ["GW_TEST_CALLBACK_SECRET"] = TestConfig.CallbackSecret,
        };
        var gateway = GatewayProcess.Start(path, environment, [$"--urls=http://127.0.0.1:{port}", .. levels]);
        var url = await gateway.WaitUntilListeningAsync();
        var http = new HttpClient { BaseAddress = url, Timeout = TimeSpan.FromSeconds(30) };
        http.DefaultRequestHeaders.Authorization = new("Bearer", TestConfig.Key);
        return (gateway, http);
    }

    [Fact]
    public async Task DefaultLevels_OneAccessLinePerRequest_NoFrameworkRequestLines()
    {
        var (gateway, http) = await StartAsync("--Logging:LogLevel:Default=Information");
        await using var _ = gateway;
        using var __ = http;
        var requestId = Sse.NewRequestId();

        var (response, _) = await Sse.PostAsync(http, """{"model":"deepinfra-llama","messages":[{"role":"user","content":"one two three"}]}""", requestId);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        await Eventually.TrueAsync(() => Task.FromResult(gateway.Output.Contains(requestId, StringComparison.Ordinal)), because: "no access-log line");
        var line = Assert.Single(gateway.Output.Split('\n'), l => l.Contains(requestId, StringComparison.Ordinal));
        Assert.Contains("Gateway.AccessLog", line);
        Assert.Contains("key=test model=deepinfra-llama provider=deepinfra status=200 outcome=ok tokens=3+4 cost=0.000013", line);
        Assert.Matches(@"latency=[0-9.]+ms ttft=[0-9.]+ms streamed=False", line);
        Assert.DoesNotContain("Request starting", gateway.Output);
        Assert.DoesNotContain("Request finished", gateway.Output);
        Assert.DoesNotContain(TestConfig.Key, gateway.Output);
    }

    [Fact]
    public async Task JsonSwitch_AccessLineIsOneJsonObjectWithItsFields()
    {
        var (gateway, http) = await StartAsync("--Logging:LogLevel:Default=Information", "--Logging:Console:FormatterName=json");
        await using var _ = gateway;
        using var __ = http;
        var requestId = Sse.NewRequestId();

        var (response, _) = await Sse.PostAsync(http, """{"model":"deepinfra-llama","messages":[{"role":"user","content":"one two three"}]}""", requestId);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        await Eventually.TrueAsync(() => Task.FromResult(gateway.Output.Contains(requestId, StringComparison.Ordinal)), because: "no access-log line");
        var line = Assert.Single(gateway.Output.Split('\n'), l => l.Contains(requestId, StringComparison.Ordinal));
        var entry = JsonDocument.Parse(line).RootElement;
        Assert.Equal("Gateway.AccessLog", entry.GetProperty("Category").GetString());
        Assert.Equal("Information", entry.GetProperty("LogLevel").GetString());
        var state = entry.GetProperty("State");
        Assert.Equal(requestId, state.GetProperty("RequestId").GetString());
        Assert.Equal("deepinfra-llama", state.GetProperty("Model").GetString());
        Assert.Equal(200, state.GetProperty("Status").GetInt32());
        Assert.Equal(3, state.GetProperty("PromptTokens").GetInt32());
    }

    [Fact]
    public async Task TraceLevel_TheCallbackTokenAndKeysAppearInNoLine()
    {
        // Every category at its most verbose, the framework's own included.
        var (gateway, http) = await StartAsync("--Logging:LogLevel:Default=Trace", "--Logging:LogLevel:Microsoft=Trace",
            "--Logging:LogLevel:Microsoft.AspNetCore=Trace", "--Logging:LogLevel:System=Trace");
        await using var _ = gateway;
        using var __ = http;
        var requestId = Sse.NewRequestId();

        var (response, body) = await Sse.PostAsync(http, """{"model":"hive2-llama","messages":[{"role":"user","content":"by callback [sim callback_delay_ms=100]"}]}""", requestId);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("echo: by callback", body);
        var submitted = (await _simulator.RequestsAsync(requestId)).First(r => r.Method == "POST");
        var callbackUrl = JsonDocument.Parse(submitted.Body).RootElement.GetProperty("callback_url").GetString()!;
        var token = callbackUrl[(callbackUrl.LastIndexOf('/') + 1)..];
        await Eventually.TrueAsync(() => Task.FromResult(gateway.Output.Contains(requestId, StringComparison.Ordinal)), because: "no access-log line");
        // The simulator may still be delivering its callback; give the gateway's log a moment to catch up with it.
        await Eventually.TrueAsync(() => Task.FromResult(gateway.Output.Contains("Callback for task", StringComparison.Ordinal)), because: "callback not logged");
        // Verbose indeed: the framework's trace lines (request matching prints request paths at this level).
        Assert.Contains("trce: Microsoft.AspNetCore", gateway.Output);
        Assert.Contains("candidate(s) found for the request path", gateway.Output);
        Assert.DoesNotContain(token, gateway.Output);
        Assert.DoesNotContain(token[..20], gateway.Output);
        Assert.DoesNotContain(TestConfig.Key, gateway.Output);
        Assert.DoesNotContain("sim-hive-v2-key", gateway.Output);
        Assert.DoesNotContain(TestConfig.CallbackSecret, gateway.Output);
    }
}
