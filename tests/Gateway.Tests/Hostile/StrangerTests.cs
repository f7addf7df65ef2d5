using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Gateway.Tests.Infrastructure;

namespace Gateway.Tests.Hostile;

/// <summary>Strangers: floods without a key, broken HTTP framing, forged and absurd callbacks, weak secrets.</summary>
public sealed class StrangerTests : IAsyncLifetime
{
    private SimulatorHost _simulator = null!;

    public async Task InitializeAsync() => _simulator = await SimulatorHost.StartAsync();

    public async Task DisposeAsync() => await _simulator.DisposeAsync();

    [Fact]
    public async Task FloodWithoutAKey_IsThrottledAndAggregated_NotOneRecordEach()
    {
        var config = TestConfig.Standard(_simulator.BaseUrl);
        config["Server"]!["AuthFailuresPerMinute"] = 50;
        await using var gateway = await GatewayHost.StartAsync(config);
        using var stranger = new HttpClient { BaseAddress = gateway.BaseUrl };
        stranger.DefaultRequestHeaders.Authorization = new("Bearer", "sk-guess");

        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 200; i++)
        {
            var (response, _) = await Sse.PostAsync(stranger, """{"model":"deepinfra-llama","messages":[{"role":"user","content":"x"}]}""");
            statuses.Add(response.StatusCode);
        }

        Assert.Equal(50, statuses.Count(s => s == HttpStatusCode.Unauthorized));
        Assert.Equal(150, statuses.Count(s => s == HttpStatusCode.TooManyRequests));
        // The journal holds aggregates (one line per outcome), not 200 records; together they count every refusal.
        List<JsonElement> lines = [];
        await Eventually.TrueAsync(() =>
        {
            lines = Directory.EnumerateFiles(gateway.JournalDirectory, "usage-*.jsonl").SelectMany(File.ReadAllLines)
                .Select(l => JsonDocument.Parse(l).RootElement.Clone()).Where(r => r.GetProperty("key").GetString() == "(none)").ToList();
            return Task.FromResult(lines.Sum(r => r.TryGetProperty("count", out var c) ? c.GetInt64() : 1) == 200);
        }, because: "the refusals were not all counted");
        Assert.InRange(lines.Count, 2, 4);
        Assert.Contains(lines, r => r.GetProperty("outcome").GetString() == "too_many_authentication_failures");
    }

    [Fact]
    public async Task MalformedChunkedBody_IsA400_AndNoStackTraceReachesTheLog()
    {
        var directory = Directory.CreateTempSubdirectory("gateway-framing-");
        var path = Path.Combine(directory.FullName, "gateway.json");
        await File.WriteAllTextAsync(path, TestConfig.Standard(_simulator.BaseUrl).ToJsonString());
        await using var gateway = GatewayProcess.Start(path, new Dictionary<string, string> { ["GW_TEST_DEEPINFRA_KEY"] = "sim-deepinfra-key" },
            "--Logging:LogLevel:Default=Information");
        var url = await gateway.WaitUntilListeningAsync();

        var overflow = await RawHttp.SendAsync(url,
            "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + TestConfig.Key + "\r\n" +
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFFFF\r\n{}\r\n0\r\n\r\n");
        var garbage = await RawHttp.SendAsync(url,
            "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + TestConfig.Key + "\r\n" +
            "Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n");

        foreach (var answer in new[] { overflow, garbage })
        {
                Assert.StartsWith("HTTP/1.1 400", answer);
            Assert.Contains("\"code\":\"invalid_request_body\"", answer);
        }

        await Task.Delay(500);
        Assert.DoesNotContain("fail:", gateway.Output);
        Assert.DoesNotContain("   at ", gateway.Output);
        Assert.DoesNotContain("Exception", gateway.Output);
    }

    [Fact]
    public async Task ShortSigningSecret_StopsTheStartWithOneLine()
    {
        var directory = Directory.CreateTempSubdirectory("gateway-secret-");
        var path = Path.Combine(directory.FullName, "gateway.json");
        var config = TestConfig.Standard(_simulator.BaseUrl).WithHiveV2(_simulator.BaseUrl, "http://127.0.0.1:9");
        await File.WriteAllTextAsync(path, config.ToJsonString());

        await using var gateway = GatewayProcess.Start(path, new Dictionary<string, string> { ["GW_TEST_CALLBACK_SECRET"] = "short-secret" });
        var exit = await gateway.WaitForExitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(1, exit);
        Assert.Contains("GW_TEST_CALLBACK_SECRET is 12 bytes; use at least 32", gateway.Output);
        Assert.DoesNotContain("short-secret", gateway.Output);
        Assert.DoesNotContain("   at ", gateway.Output);
    }
}
