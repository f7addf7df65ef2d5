using System.Net;
using System.Text.Json;
using Gateway.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace Gateway.Tests.Auth;

/// <summary>
/// Every endpoint declares the key it needs (ASP.NET Core's authorization policies): what a stranger, a wrong key, an
/// ordinary key and an admin key get from each, and that endpoints open to everyone never look at the key (a health
/// probe is not an authentication failure of its address).
/// </summary>
public sealed class EndpointAccessTests : IAsyncLifetime
{
    private SimulatorHost _simulator = null!;
    private GatewayHost _gateway = null!;

    public async Task InitializeAsync()
    {
        _simulator = await SimulatorHost.StartAsync();
        _gateway = await GatewayHost.StartAsync(TestConfig.Standard(_simulator.BaseUrl));
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        await _simulator.DisposeAsync();
    }

    [Fact]
    public async Task ThePolicies_AnswerTheSameThroughAspNetCoresAuthorizationService()
    {
        // The request path decides the two policies in place (GatewayPolicyEvaluator); anything that asks ASP.NET Core's
        // IAuthorizationService instead must get the same answers from the same requirements.
        var services = _gateway.Services;
        var authorization = services.GetRequiredService<Microsoft.AspNetCore.Authorization.IAuthorizationService>();
        var config = services.GetRequiredService<Gateway.Configuration.ConfigStore>().Current;
        var keys = config.KeysByHash.Values.ToList();
        foreach (var (key, policy, allowed) in new[]
        {
            (keys.Single(k => k.IsAdmin), "admin-key", true), (keys.First(k => !k.IsAdmin), "admin-key", false),
            (keys.First(k => !k.IsAdmin), "client-key", true),
        })
        {
            var http = new Microsoft.AspNetCore.Http.DefaultHttpContext();
            http.Features.Set(new Gateway.Auth.AuthenticatedKey(key, config));
            var result = await authorization.AuthorizeAsync(Gateway.Auth.AuthenticatedKeys.TicketOf(key).Principal, http, policy);
            Assert.True(result.Succeeded == allowed, $"{key.Name} on {policy}");
        }

        var stranger = new Microsoft.AspNetCore.Http.DefaultHttpContext();
        Assert.False((await authorization.AuthorizeAsync(new System.Security.Claims.ClaimsPrincipal(), stranger, "client-key")).Succeeded);
    }

    public static TheoryData<string, string> KeyEndpoints => new()
    {
        { "POST", "/v1/chat/completions" }, { "GET", "/v1/models" }, { "GET", "/v1/models/deepinfra-llama" }, { "GET", "/v1/usage" },
    };

    public static TheoryData<string, string> AdminEndpoints => new()
    {
        { "/admin/usage", "other keys' usage" }, { "/admin/deployments", "the deployments' state" },
        { "/admin/limits", "the keys' limits" }, { "/admin/stats", "the gateway's statistics" },
    };

    [Theory]
    [MemberData(nameof(KeyEndpoints))]
    public async Task KeyEndpoints_RefuseStrangersAndWrongKeys_InOpenAiShape_AndAnswerAKey(string method, string path)
    {
        var (missing, missingCode) = await SendAsync(method, path, null);
        var (wrong, wrongCode) = await SendAsync(method, path, "sk-wrong-" + Guid.NewGuid().ToString("N"));
        var (valid, _) = await SendAsync(method, path, TestConfig.Key);

        Assert.Equal((HttpStatusCode.Unauthorized, "missing_api_key"), (missing, missingCode));
        Assert.Equal((HttpStatusCode.Unauthorized, "invalid_api_key"), (wrong, wrongCode));
        Assert.Equal(HttpStatusCode.OK, valid);
    }

    [Theory]
    [MemberData(nameof(AdminEndpoints))]
    public async Task AdminEndpoints_RefuseOrdinaryKeys_NamingWhatTheyShow(string path, string what)
    {
        var (stranger, _) = await SendAsync("GET", path, null);
        var (ordinary, code, message) = await SendWithMessageAsync("GET", path, TestConfig.Key);
        var (admin, _) = await SendAsync("GET", path, TestConfig.AdminKey);

        Assert.Equal(HttpStatusCode.Unauthorized, stranger);
        Assert.Equal((HttpStatusCode.Forbidden, "forbidden"), (ordinary, code));
        Assert.Equal($"This key may not read {what}.", message);
        Assert.Equal(HttpStatusCode.OK, admin);
    }

    [Fact]
    public async Task OpenEndpoints_NeverCountAsAuthenticationFailures()
    {
        // A gateway of its own: the other tests here send wrong keys from this address.
        var config = TestConfig.Standard(_simulator.BaseUrl);
        config["Server"]!["AuthFailuresPerMinute"] = 3;
        await using var gateway = await GatewayHost.StartAsync(config);

        // Well past the three failures a minute this gateway allows an address: probes and the dashboard's page and
        // assets are open, so they must not look at (or count) the missing key.
        for (var i = 0; i < 10; i++)
        {
            foreach (var path in new[] { "/healthz", "/readyz", "/admin", "/admin/assets/dashboard.js" })
            {
                Assert.Equal(HttpStatusCode.OK, (await SendAsync(gateway, "GET", path, null)).Status);
            }
        }

        // A wrong key from this address is still told it is wrong (401), not throttled (429).
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(gateway, "GET", "/v1/models", "sk-wrong")).Status);
    }

    private Task<(HttpStatusCode Status, string? Code)> SendAsync(string method, string path, string? key) =>
        SendAsync(_gateway, method, path, key);

    private static async Task<(HttpStatusCode Status, string? Code)> SendAsync(GatewayHost gateway, string method, string path, string? key)
    {
        var (status, code, _) = await SendWithMessageAsync(gateway, method, path, key);
        return (status, code);
    }

    private Task<(HttpStatusCode Status, string? Code, string? Message)> SendWithMessageAsync(string method, string path, string? key) =>
        SendWithMessageAsync(_gateway, method, path, key);

    private static async Task<(HttpStatusCode Status, string? Code, string? Message)> SendWithMessageAsync(
        GatewayHost gateway, string method, string path, string? key)
    {
        using var http = new HttpClient { BaseAddress = gateway.BaseUrl };
        using var request = new HttpRequestMessage(new HttpMethod(method), path);
        if (key is not null)
        {
            request.Headers.Authorization = new("Bearer", key);
        }

        if (method == "POST")
        {
            request.Content = new StringContent("""{"model":"deepinfra-llama","messages":[{"role":"user","content":"x"}]}""");
        }

        using var response = await http.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        if ((int)response.StatusCode < 400)
        {
            return (response.StatusCode, null, null);
        }

        var error = JsonDocument.Parse(body).RootElement.GetProperty("error");
        return (response.StatusCode, error.GetProperty("code").GetString(), error.GetProperty("message").GetString());
    }
}
