using System.ClientModel;
using System.Net;
using System.Text.Json;
using Gateway.Tests.Infrastructure;

namespace Gateway.Tests.Endpoints;

public sealed class ModelsAndHealthTests(GatewayFixture f) : IClassFixture<GatewayFixture>
{
    [Fact]
    public async Task ListModels_WithSdk_ShowsEveryModelTheKeyMayUse()
    {
        var models = (await f.Gateway.Client().GetOpenAIModelClient().GetModelsAsync()).Value;

        Assert.Contains(models, m => m.Id == "hive-llama" && m.OwnedBy == "test");
        Assert.Contains(models, m => m.Id == "segmind-llama");
        Assert.Equal(TestConfig.Standard(f.Simulator.BaseUrl)["Models"]!.AsObject().Count, models.Count);
    }

    [Fact]
    public async Task ListModels_LimitedKey_ShowsOnlyItsModels()
    {
        var models = (await f.Gateway.Client(TestConfig.LimitedKey).GetOpenAIModelClient().GetModelsAsync()).Value;

        Assert.Equal("deepinfra-llama", Assert.Single(models).Id);
    }

    [Fact]
    public async Task GetModel_ReturnsOneObject()
    {
        var response = await f.Gateway.Http.GetAsync("/v1/models/hive-llama");
        var root = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("hive-llama", root.GetProperty("id").GetString());
        Assert.Equal("model", root.GetProperty("object").GetString());
    }

    [Fact]
    public async Task GetModel_Unknown_Returns404()
    {
        var ex = await Assert.ThrowsAsync<ClientResultException>(() => f.Gateway.Client().GetOpenAIModelClient().GetModelAsync("nope"));

        Assert.Equal(404, ex.Status);
    }

    [Fact]
    public async Task Models_WithoutKey_Returns401()
    {
        using var anonymous = new HttpClient { BaseAddress = f.Gateway.BaseUrl };

        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/v1/models")).StatusCode);
    }

    [Theory]
    [InlineData("/healthz")]
    [InlineData("/readyz")]
    public async Task HealthEndpoints_NeedNoKey(string path)
    {
        using var anonymous = new HttpClient { BaseAddress = f.Gateway.BaseUrl };

        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync(path)).StatusCode);
    }
}
