using System.Net.Http.Headers;
using System.Text.Json;
using Gateway.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Gateway.Tests.Telemetry;

/// <summary>
/// Segmind's x-remaining-credits (its seed's only account signal) becomes a gauge per provider account, a line on the
/// dashboard's stats, and a warning in the log below the configured level (issue 20, item 6).
/// </summary>
public sealed class ProviderCreditsTests : IAsyncLifetime
{
    private SimulatorHost _simulator = null!;

    public async Task InitializeAsync() => _simulator = await SimulatorHost.StartAsync();

    public async Task DisposeAsync() => await _simulator.DisposeAsync();

    [Fact]
    public async Task RemainingCredits_AreAGauge_OnTheDashboard_AndWarnedAboutBelowTheLevel()
    {
        var config = TestConfig.Standard(_simulator.BaseUrl);
        // Far above any balance the simulator reports: every answer is below the warning level.
        config["Providers"]!["segmind"]!["LowCreditsWarning"] = 1e12;
        var logs = new CapturedLogs();
        await using var gateway = await GatewayHost.StartAsync(config, builder => builder.Logging.AddProvider(logs));
        using var metrics = new HostMetrics(gateway.Services);

        for (var i = 0; i < 3; i++)
        {
            var (response, _) = await Sse.PostAsync(gateway.Http, """{"model":"segmind-llama","messages":[{"role":"user","content":"hi"}]}""");
            Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
        }

        var gauge = metrics.Gauge("gateway.provider.remaining_credits", ("gen_ai.system", "segmind"));
        Assert.NotNull(gauge);
        Assert.True(gauge > 0);

        using var admin = new HttpClient { BaseAddress = gateway.BaseUrl };
        admin.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", TestConfig.AdminKey);
        var credits = JsonDocument.Parse(await admin.GetStringAsync("/admin/stats")).RootElement.GetProperty("credits").EnumerateArray().Single();
        Assert.Equal("segmind", credits.GetProperty("provider").GetString());
        Assert.Equal(gauge!.Value, credits.GetProperty("remaining").GetDouble());
        Assert.True(credits.GetProperty("low").GetBoolean());

        // Warned once (at most once a minute per provider), naming the provider and the level, not once per request.
        var warnings = logs.Lines.Where(l => l.Contains("credits left, below the warning level", StringComparison.Ordinal)).ToList();
        Assert.Single(warnings);
        Assert.Contains("segmind", warnings[0]);
    }
}
