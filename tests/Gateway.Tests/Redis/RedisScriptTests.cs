using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Gateway.Tests.Infrastructure;

namespace Gateway.Tests.Redis;

/// <summary>Lua scripts go to Redis by SHA; their text crosses the wire only when Redis lost it (restart, SCRIPT FLUSH).</summary>
public sealed partial class RedisScriptTests : SimulatorAndRedisTests
{
    [Fact]
    public async Task Scripts_CalledBySha_AndReloadedAfterScriptFlush()
    {
        var config = TestConfig.Standard(Simulator.BaseUrl);
        config["Redis"] = new JsonObject { ["Configuration"] = Redis.Configuration };
        config["Keys"]!["test"]!["Limits"] = new JsonObject { ["RequestsPerMinute"] = 1000 };
        await using var gateway = await GatewayHost.StartAsync(config);
        await Redis.CliAsync("CONFIG", "RESETSTAT");

        for (var i = 0; i < 5; i++)
        {
            var (response, _) = await Sse.PostAsync(gateway.Http, """{"model":"deepinfra-llama","messages":[{"role":"user","content":"hi"}]}""");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.True(response.Headers.Contains("x-ratelimit-remaining-requests"), "the admission did not run in Redis");
        }

        // Admission on each request, settlement and usage batches after: all by SHA, the text sent once per script.
        var stats = await Redis.CliAsync("INFO", "commandstats");
        Assert.True(Calls(stats, "evalsha") >= 5, stats);
        Assert.True(Calls(stats, "eval") <= 3, stats);

        Assert.Equal("OK", await Redis.CliAsync("SCRIPT", "FLUSH"));
        var (afterFlush, _) = await Sse.PostAsync(gateway.Http, """{"model":"deepinfra-llama","messages":[{"role":"user","content":"hi"}]}""");

        Assert.Equal(HttpStatusCode.OK, afterFlush.StatusCode);
        Assert.True(afterFlush.Headers.Contains("x-ratelimit-remaining-requests"), "admission failed open after SCRIPT FLUSH");
        Assert.Equal("994", afterFlush.Headers.GetValues("x-ratelimit-remaining-requests").Single());
    }

    private static long Calls(string commandStats, string command)
    {
        var m = Regex.Match(commandStats, $@"cmdstat_{command}:calls=(\d+)");
        return m.Success ? long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) : 0;
    }
}
