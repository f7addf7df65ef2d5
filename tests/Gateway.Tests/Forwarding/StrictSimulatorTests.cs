using System.Net;
using System.Text.Json;
using Gateway.Tests.Infrastructure;
using OpenAI.Chat;

namespace Gateway.Tests.Forwarding;

/// <summary>
/// The simulator following the providers' documents to the letter (it refuses any field they do not list), and
/// deployments that pass nothing undocumented: whatever an OpenAI client sends, every provider receives only what its
/// document lists, so a strict provider never refuses the gateway's request.
/// </summary>
public sealed class StrictSimulatorTests : IAsyncLifetime
{
    private SimulatorHost _simulator = null!;
    private GatewayHost _gateway = null!;

    public async Task InitializeAsync()
    {
        _simulator = await SimulatorHost.StartStrictAsync();
        var config = TestConfig.Standard(_simulator.BaseUrl);
        var models = config["Models"]!.AsObject();
        models["hive-doc"] = TestConfig.Model(("hive", "meta-llama/llama-3.2-1b-instruct")).With(d => d["Undocumented"] = "drop");
        models["deepinfra-doc"] = TestConfig.Model(("deepinfra", "meta-llama/Meta-Llama-3.1-8B-Instruct")).With(d => d["Undocumented"] = "drop");
        models["segmind-doc"] = TestConfig.Model(("segmind", "llama-v3p1-8b-instruct")).With(d => d["Undocumented"] = "drop");
        _gateway = await GatewayHost.StartAsync(config);
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        await _simulator.DisposeAsync();
    }

    [Theory]
    [InlineData("hive-doc", false)]
    [InlineData("hive-doc", true)]
    [InlineData("deepinfra-doc", false)]
    [InlineData("deepinfra-doc", true)]
    [InlineData("segmind-doc", false)]
    [InlineData("segmind-doc", true)]
    public async Task EverythingAClientSends_ReachesAStrictProviderOnlyAsDocumented(string model, bool stream)
    {
        var options = new ChatCompletionOptions
        {
            Temperature = 0.7f, TopP = 0.9f, MaxOutputTokenCount = 50, FrequencyPenalty = 0.1f, PresencePenalty = 0.1f,
            StopSequences = { "END" }, EndUserId = "u-1",
        };
        var chat = _gateway.Chat(model);
        string text;
        if (stream)
        {
            var builder = new System.Text.StringBuilder();
            await foreach (var update in chat.CompleteChatStreamingAsync([new SystemChatMessage("Be brief."), new UserChatMessage("hello there")], options))
            {
                foreach (var part in update.ContentUpdate)
                {
                    builder.Append(part.Text);
                }
            }

            text = builder.ToString();
        }
        else
        {
            text = (await chat.CompleteChatAsync([new SystemChatMessage("Be brief."), new UserChatMessage("hello there")], options)).Value.Content[0].Text;
        }

        Assert.Contains("echo: hello there", text);
        Assert.DoesNotContain("</s>", text);
    }

    [Fact]
    public async Task TheStrictSimulator_RefusesWhatItsDocumentDoesNotList()
    {
        // The same undocumented field passed by a deployment: the strict provider says no, in its own shape.
        var config = TestConfig.Standard(_simulator.BaseUrl);
        await using var passing = await GatewayHost.StartAsync(config);
        var (response, body) = await Sse.PostAsync(passing.Http,
            """{"model":"deepinfra-llama","stop":["x"],"messages":[{"role":"user","content":"hi"}]}""");

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("upstream_rejected_request", JsonDocument.Parse(body).RootElement.GetProperty("error").GetProperty("code").GetString());
        Assert.Contains("stop: extra fields not permitted", body);
    }

    [Theory]
    [InlineData("""{"role":"user","content":"hi","cache_hint":"long"}""", "messages[].cache_hint")]
    [InlineData("""{"role":"user","content":[{"type":"text","text":"hi","cache_hint":"long"}]}""", "messages[].content[].cache_hint")]
    public async Task TheStrictSimulator_RefusesWhatItsDocumentDoesNotList_BelowTheTopLevelToo(string message, string field)
    {
        // A deployment passing a field the seed does not list, inside a message or a content part: strict DeepInfra refuses it.
        var config = TestConfig.Standard(_simulator.BaseUrl);
        config["Models"]!["deepinfra-llama"]!["Deployments"]![0]!["PassParameters"] = new System.Text.Json.Nodes.JsonArray("cache_hint");
        await using var passing = await GatewayHost.StartAsync(config);
        var (response, body) = await Sse.PostAsync(passing.Http, $$"""{"model":"deepinfra-llama","messages":[{{message}}]}""");

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("upstream_rejected_request", JsonDocument.Parse(body).RootElement.GetProperty("error").GetProperty("code").GetString());
        Assert.Contains(field + ": extra fields not permitted", body);
    }
}
