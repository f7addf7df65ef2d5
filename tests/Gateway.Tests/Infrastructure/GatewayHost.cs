using System.ClientModel;
using System.ClientModel.Primitives;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using OpenAI;
using OpenAI.Chat;

namespace Gateway.Tests.Infrastructure;

/// <summary>The gateway on real Kestrel on a free loopback port, in this process, with its own gateway.json.</summary>
public sealed class GatewayHost : IAsyncDisposable
{
    private readonly WebApplication _app;

    private GatewayHost(WebApplication app, Uri baseUrl, string configPath)
    {
        _app = app;
        BaseUrl = baseUrl;
        ConfigPath = configPath;
        Http = new HttpClient { BaseAddress = baseUrl, Timeout = TimeSpan.FromSeconds(30) };
        Http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", TestConfig.Key);
    }

    public Uri BaseUrl { get; }
    public string ConfigPath { get; }

    /// <summary>This gateway's usage journal (and spill) directory.</summary>
    public string JournalDirectory => Path.Combine(Path.GetDirectoryName(ConfigPath)!, "usage");

    /// <summary>A raw client carrying the standard test key.</summary>
    public HttpClient Http { get; }

    public IServiceProvider Services => _app.Services;

    public static Task<GatewayHost> StartAsync(JsonObject config, params string[] args) => StartAsync(config, port: 0, args);

    public static Task<GatewayHost> StartAsync(JsonObject config, int port, params string[] args) =>
        StartAsync(config, port, Directory.CreateTempSubdirectory("gateway-test-"), args);

    /// <summary>Starts a gateway in <paramref name="directory"/> (reusing it keeps the journal: a restart).</summary>
    public static Task<GatewayHost> StartAsync(JsonObject config, int port, DirectoryInfo directory, params string[] args) =>
        StartAsync(config, port, directory, null, args);

    /// <summary>Starts a gateway in <paramref name="directory"/> whose services <paramref name="configure"/> may replace.</summary>
    public static Task<GatewayHost> StartAsync(JsonObject config, DirectoryInfo directory, Action<WebApplicationBuilder> configure, params string[] args) =>
        StartAsync(config, 0, directory, configure, args);

    /// <summary>Starts a gateway whose services <paramref name="configure"/> may replace (a clock, say).</summary>
    public static Task<GatewayHost> StartAsync(JsonObject config, Action<WebApplicationBuilder> configure, params string[] args) =>
        StartAsync(config, 0, Directory.CreateTempSubdirectory("gateway-test-"), configure, args);

    private static async Task<GatewayHost> StartAsync(JsonObject config, int port, DirectoryInfo directory, Action<WebApplicationBuilder>? configure,
        params string[] args)
    {
        var path = Path.Combine(directory.FullName, "gateway.json");
        await File.WriteAllTextAsync(path, config.ToJsonString());
        var app = GatewayApp.Create(
            // No drain delay: a test host has no load balancer to tell (the lifecycle tests set their own).
            [$"--urls=http://127.0.0.1:{port}", $"--GATEWAY_CONFIG={path}", "--Logging:LogLevel:Default=Warning", "--Lifecycle:DrainDelaySeconds=0",
             $"--Metering:JournalDirectory={Path.Combine(directory.FullName, "usage")}", .. args], configure);
        await app.StartAsync();
        return new GatewayHost(app, new Uri(app.Urls.First()), path);
    }

    /// <summary>The official OpenAI SDK pointed at this gateway, with its own retries off so tests see each answer.</summary>
    public ChatClient Chat(string model, string key = TestConfig.Key, IReadOnlyDictionary<string, string>? headers = null)
    {
        var options = new OpenAIClientOptions
        {
            Endpoint = new Uri(BaseUrl, "/v1"),
            RetryPolicy = new ClientRetryPolicy(maxRetries: 0),
            NetworkTimeout = TimeSpan.FromSeconds(30),
        };
        if (headers is not null)
        {
            options.AddPolicy(new FixedHeadersPolicy(headers), PipelinePosition.PerCall);
        }

        return new ChatClient(model, new ApiKeyCredential(key), options);
    }

    public OpenAIClient Client(string key = TestConfig.Key) =>
        new(new ApiKeyCredential(key), new OpenAIClientOptions
        {
            Endpoint = new Uri(BaseUrl, "/v1"),
            RetryPolicy = new ClientRetryPolicy(maxRetries: 0),
        });

    public bool KeepDirectory { get; set; }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
        if (KeepDirectory)
        {
            return;
        }

        try
        {
            Directory.Delete(Path.GetDirectoryName(ConfigPath)!, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>A simulator and a gateway in front of it with the standard test configuration.</summary>
public class GatewayFixture : IAsyncLifetime
{
    public SimulatorHost Simulator { get; private set; } = null!;
    public GatewayHost Gateway { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Simulator = await SimulatorHost.StartAsync();
        Gateway = await GatewayHost.StartAsync(TestConfig.Standard(Simulator.BaseUrl));
    }

    public async Task DisposeAsync()
    {
        await Gateway.DisposeAsync();
        await Simulator.DisposeAsync();
    }
}

/// <summary>Adds fixed headers (a request id to find in the simulator's log, a deadline) to every SDK request.</summary>
public sealed class FixedHeadersPolicy(IReadOnlyDictionary<string, string> headers) : PipelinePolicy
{
    public override void Process(PipelineMessage message, IReadOnlyList<PipelinePolicy> pipeline, int currentIndex)
    {
        Apply(message);
        ProcessNext(message, pipeline, currentIndex);
    }

    public override ValueTask ProcessAsync(PipelineMessage message, IReadOnlyList<PipelinePolicy> pipeline, int currentIndex)
    {
        Apply(message);
        return ProcessNextAsync(message, pipeline, currentIndex);
    }

    private void Apply(PipelineMessage message)
    {
        foreach (var (name, value) in headers)
        {
            message.Request.Headers.Set(name, value);
        }
    }
}
