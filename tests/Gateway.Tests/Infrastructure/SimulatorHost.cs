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
    /// A simulator that accepts fields the providers' documents do not list: most tests exercise deployments that pass
    /// such parameters on purpose (as the repository's gateway.json does). <see cref="StartStrictAsync"/> follows the
    /// documents to the letter.
    /// </summary>
    public static Task<SimulatorHost> StartAsync(params string[] args) => StartStrictAsync(["--Sim:AcceptUndocumented=true", .. args]);

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
