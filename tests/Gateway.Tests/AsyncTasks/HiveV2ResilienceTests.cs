using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Gateway.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Gateway.Tests.AsyncTasks;

/// <summary>Hive V2 when things go wrong: Redis down, and a callback receiver that fails at first.</summary>
public sealed class HiveV2ResilienceTests : SimulatorAndRedisTests
{
    [Fact]
    public async Task RedisDown_TaskStillAnsweredByPolling()
    {
        var port = FreePort.Get();
        var config = TestConfig.Standard(Simulator.BaseUrl).WithHiveV2(Simulator.BaseUrl, $"http://127.0.0.1:{port}", Redis.Configuration);
        await using var gateway = await GatewayHost.StartAsync(config, port);
        await Redis.StopAsync();

        var (response, body) = await Sse.PostAsync(gateway.Http,
            """{"model":"hive2-quick","messages":[{"role":"user","content":"no redis here"}]}""");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("echo: no redis here", body);
        await Redis.RestartAsync();
    }

    [Fact]
    public async Task Simulator_RetriesACallbackThatFails_CountingRetries()
    {
        // A callback receiver that refuses twice, then takes the task.
        var received = new List<JsonElement>();
        var app = WebApplication.CreateBuilder().Build();
        app.Urls.Add("http://127.0.0.1:0");
        app.MapPost("/hook", async (HttpContext c) =>
        {
            var task = await JsonSerializer.DeserializeAsync<JsonElement>(c.Request.Body);
            lock (received)
            {
                received.Add(task);
                c.Response.StatusCode = received.Count <= 2 ? 429 : 200;
            }
        });
        await app.StartAsync();
        try
        {
            using var http = new HttpClient { BaseAddress = Simulator.BaseUrl };
            http.DefaultRequestHeaders.Authorization = new("Token", "sim-hive-v2-key");
            var submit = await http.PostAsJsonAsync("/api/v2/task/async", new
            {
                text_data = "retry me [sim callback_delay_ms=10 callback_retry_ms=50]",
                callback_url = new Uri(new Uri(app.Urls.First()), "/hook").ToString(),
            });
            var answer = await submit.Content.ReadFromJsonAsync<JsonElement>();
            var taskId = answer.GetProperty("task_id").GetString();
            Assert.Equal(taskId, answer.GetProperty("id").GetString());
            Assert.Equal(taskId, answer.GetProperty("status")[0].GetProperty("task_id").GetString());

            await Eventually.TrueAsync(() => Task.FromResult(received.Count >= 3), TimeSpan.FromSeconds(10));
            Assert.Equal([0, 1, 2], received.Select(r => r.GetProperty("callback_retry_count").GetInt32()));
            Assert.All(received, r => Assert.Equal(taskId, r.GetProperty("task_id").GetString()));
            var polled = await http.GetFromJsonAsync<JsonElement>($"/api/v2/task/{taskId}");
            Assert.Equal("finished", polled.GetProperty("state").GetString());
            Assert.Equal("0", polled.GetProperty("status")[0].GetProperty("status").GetProperty("code").GetString());
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }
}
