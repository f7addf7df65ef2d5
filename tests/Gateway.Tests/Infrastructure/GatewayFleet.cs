using System.Text.Json.Nodes;

namespace Gateway.Tests.Infrastructure;

/// <summary>Several gateway processes on one gateway.json, as replicas behind a balancer (each with its own journal).</summary>
public sealed class GatewayFleet : IAsyncDisposable
{
    private readonly List<GatewayProcess> _replicas;
    private readonly DirectoryInfo _directory;

    private GatewayFleet(List<GatewayProcess> replicas, List<Uri> urls, DirectoryInfo directory)
    {
        _replicas = replicas;
        Urls = urls;
        _directory = directory;
    }

    public IReadOnlyList<Uri> Urls { get; }

    public GatewayProcess this[int replica] => _replicas[replica];

    public static async Task<GatewayFleet> StartAsync(JsonObject config, int replicas, params string[] args)
    {
        var directory = Directory.CreateTempSubdirectory("gateway-fleet-");
        var path = Path.Combine(directory.FullName, "gateway.json");
        await File.WriteAllTextAsync(path, config.ToJsonString());
        var processes = Enumerable.Range(0, replicas).Select(_ => GatewayProcess.Start(path, null, args)).ToList();
        var urls = new List<Uri>();
        foreach (var process in processes)
        {
            urls.Add(await process.WaitUntilListeningAsync());
        }

        return new GatewayFleet(processes, urls, directory);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var replica in _replicas)
        {
            await replica.DisposeAsync();
        }

        try
        {
            _directory.Delete(recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
