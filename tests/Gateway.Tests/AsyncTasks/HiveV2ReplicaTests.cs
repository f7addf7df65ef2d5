using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Gateway.Tests.Infrastructure;
using ProviderSimulator.Providers;

namespace Gateway.Tests.AsyncTasks;

/// <summary>Two gateway processes sharing one Redis: the callback lands on the replica that does not hold the request.</summary>
public sealed class HiveV2ReplicaTests : SimulatorAndRedisTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task CallbackOnOtherReplica_ReachesTheWaitingOne(bool stream)
    {
        // Replica B is the public address providers call back; the client talks to replica A.
        var portB = FreePort.Get();
        var directory = Directory.CreateTempSubdirectory("gateway-replicas-");
        var path = Path.Combine(directory.FullName, "gateway.json");
        var config = TestConfig.Standard(Simulator.BaseUrl).WithHiveV2(Simulator.BaseUrl, $"http://127.0.0.1:{portB}", Redis.Configuration);
        await File.WriteAllTextAsync(path, config.ToJsonString());
        var environment = new Dictionary<string, string>
        {
            ["GW_TEST_HIVE_V2_KEY"] = "sim-hive-v2-key",
            ["GW_TEST_CALLBACK_SECRET"] = TestConfig.CallbackSecret,
            ["Logging__LogLevel__Gateway.AsyncTasks"] = "Information",
        };
        // B takes its port first, so A's free port cannot collide with it.
        await using var replicaB = GatewayProcess.Start(path, environment, $"--urls=http://127.0.0.1:{portB}");
        await replicaB.WaitUntilListeningAsync();
        await using var replicaA = GatewayProcess.Start(path, environment);
        var urlA = await replicaA.WaitUntilListeningAsync();
        using var http = new HttpClient { BaseAddress = urlA, Timeout = TimeSpan.FromSeconds(30) };
        http.DefaultRequestHeaders.Authorization = new("Bearer", TestConfig.Key);

        try
        {
            await AssertAnsweredThroughOtherReplicaAsync(stream, http, portB, replicaB);
        }
        catch (Exception ex) when (ex is Xunit.Sdk.XunitException or HttpRequestException or InvalidOperationException)
        {
            throw new InvalidOperationException($"{ex.Message}\n--- replica A:\n{replicaA.Output}\n--- replica B:\n{replicaB.Output}", ex);
        }
    }

    private async Task AssertAnsweredThroughOtherReplicaAsync(bool stream, HttpClient http, int portB, GatewayProcess replicaB)
    {
        var requestId = Sse.NewRequestId();
        var (response, body) = await Sse.PostAsync(http,
            $$"""{"model":"hive2-llama","stream":{{(stream ? "true" : "false")}},"messages":[{"role":"user","content":"across replicas [sim callback_delay_ms=300]"}]}""",
            requestId);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("\"content\":\"echo: across replicas\"", body);
        var callbackUrl = JsonDocument.Parse((await Simulator.RequestsAsync(requestId)).Single().Body).RootElement.GetProperty("callback_url").GetString()!;
        Assert.StartsWith($"http://127.0.0.1:{portB}/", callbackUrl);
        // The simulator logs its callback once B has answered it, which can be after A answered the client.
        await Eventually.TrueAsync(async () => (await Simulator.Control.GetFromJsonAsync<List<HiveV2Provider.CallbackAttempt>>("/_sim/callbacks"))!
            .Exists(c => c.Url == callbackUrl && c.Status == 200), TimeSpan.FromSeconds(10), "the simulator's callback to replica B was not acknowledged");
        // Answered by the callback through Redis, not by polling A's own way around it.
        Assert.DoesNotContain(await Simulator.RequestsAsync(requestId), r => r.Method == "GET");
        // Replica B logged taking the callback (its console log is written asynchronously).
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!replicaB.Output.Contains("Accepted", StringComparison.Ordinal) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        Assert.Contains("Accepted", replicaB.Output);
    }
}
