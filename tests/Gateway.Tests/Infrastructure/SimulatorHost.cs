using System.Net.Http.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using ProviderSimulator;

namespace Gateway.Tests.Infrastructure;

/// <summary>The provider simulator on a free loopback port, in this process.</summary>
public sealed class SimulatorHost : IAsyncDisposable
{
    private readonly WebApplication _app;

    private SimulatorHost(WebApplication app, Uri baseUrl)
    {
        _app = app;
        BaseUrl = baseUrl;
        Control = new HttpClient { BaseAddress = baseUrl, Timeout = TimeSpan.FromSeconds(10) };
    }

    public Uri BaseUrl { get; }
    public HttpClient Control { get; }

    /// <summary>
    /// The simulator as the seeds describe the providers: a field a provider's document does not list, at any level,
    /// is refused in that provider's own error shape. Every test runs against this one unless it says why not.
    /// </summary>
    /// <remarks>
    /// One exception, the standard test configuration's own decision: its <c>deepinfra-llama</c> deployment passes the
    /// OpenAI parameters DeepInfra's seed does not list (<see cref="TestConfig.DeepInfraPassed"/>, as the shipped
    /// gateway.json does), so DeepInfra here also takes exactly those top-level fields and nothing else.
    /// </remarks>
    public static Task<SimulatorHost> StartAsync(params string[] args) => StartAcceptingAsync([], args);

    /// <summary>
    /// As <see cref="StartAsync"/>, and DeepInfra also takes <paramref name="alsoAtDeepInfra"/>: top-level fields a
    /// test's own deployment passes on purpose (say which, and why, where it is called).
    /// </summary>
    public static Task<SimulatorHost> StartAcceptingAsync(IEnumerable<string> alsoAtDeepInfra, params string[] args) =>
        StartStrictAsync([.. DeepInfraAlsoAccepts([.. TestConfig.DeepInfraPassed().Select(f => (string)f!), .. alsoAtDeepInfra]), .. args]);

    /// <summary>Simulator arguments: DeepInfra also takes these top-level fields (a deployment passes them on purpose).</summary>
    public static string[] DeepInfraAlsoAccepts(IEnumerable<string> fields) =>
        fields.Distinct(StringComparer.Ordinal).Select((field, i) => $"--Sim:DeepInfra:AlsoAccept:{i}={field}").ToArray();

    /// <summary>
    /// A simulator that accepts fields the documents do not list. <paramref name="why"/> is the test's reason (a
    /// deployment that passes an undocumented parameter on purpose, to show what the gateway sends); it is not used,
    /// it is there so no caller can ask for leniency without giving one.
    /// </summary>
    public static Task<SimulatorHost> StartLenientAsync(string why, params string[] args)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(why);
        return StartStrictAsync(["--Sim:AcceptUndocumented=true", .. args]);
    }

    public static async Task<SimulatorHost> StartStrictAsync(params string[] args)
    {
        var app = SimulatorApp.Create(["--urls=http://127.0.0.1:0", .. args]);
        await app.StartAsync();
        return new SimulatorHost(app, new Uri(app.Urls.First()));
    }

    /// <summary>What the simulator received for one gateway request (matched by x-request-id).</summary>
    public async Task<List<LoggedRequest>> RequestsAsync(string requestId)
    {
        var all = await Control.GetFromJsonAsync<List<LoggedRequest>>("/_sim/requests");
        return all!.Where(r => r.RequestId == requestId).ToList();
    }

    public async Task<LoggedRequest> SingleRequestAsync(string requestId)
    {
        var found = await RequestsAsync(requestId);
        return Assert.Single(found);
    }

    /// <summary>How many requests whose body contains <paramref name="marker"/> the simulator received (what was paid for).</summary>
    public async Task<int> CountRequestsContainingAsync(string marker)
    {
        var all = await Control.GetFromJsonAsync<List<LoggedRequest>>("/_sim/requests");
        return all!.Count(r => r.Body.Contains(marker, StringComparison.Ordinal));
    }

    /// <summary>Waits (bounded) until <paramref name="count"/> requests have reached gate <paramref name="name"/> (knob <c>hold=name</c>).</summary>
    public Task WaitAtGateAsync(string name, int count = 1) => Eventually.TrueAsync(async () =>
    {
        var gate = await Control.GetFromJsonAsync<System.Text.Json.JsonElement>($"/_sim/gates/{name}");
        return gate.GetProperty("arrived").GetInt32() >= count;
    }, TimeSpan.FromSeconds(20), $"{count} request(s) never reached gate {name}");

    /// <summary>Lets every request held at gate <paramref name="name"/> go on, and every later one through.</summary>
    public async Task OpenGateAsync(string name) => (await Control.PostAsync($"/_sim/gates/{name}/open", null)).EnsureSuccessStatusCode();

    public async Task SetFaultsAsync(string? knobs)
    {
        var response = knobs is null
            ? await Control.DeleteAsync("/_sim/faults")
            : await Control.PostAsync("/_sim/faults", new StringContent(knobs));
        response.EnsureSuccessStatusCode();
    }

    public async ValueTask DisposeAsync()
    {
        Control.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
