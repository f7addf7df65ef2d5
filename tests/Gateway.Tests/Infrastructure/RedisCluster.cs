using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Gateway.Tests.Infrastructure;

/// <summary>A real Redis Cluster of three masters on loopback (redis-server --cluster-enabled yes), made with redis-cli --cluster create.</summary>
public sealed class RedisCluster : IAsyncDisposable
{
    private readonly List<Process> _nodes = [];
    private readonly string _directory = Directory.CreateTempSubdirectory("redis-cluster-").FullName;

    public List<int> Ports { get; } = [];

    /// <summary>A StackExchange.Redis connection string naming every master.</summary>
    public string Configuration => string.Join(",", Ports.Select(p => $"127.0.0.1:{p}"));

    public static async Task<RedisCluster> StartAsync()
    {
        var cluster = new RedisCluster();
        while (cluster.Ports.Count < 3)
        {
            // Each node also listens on its port + 10000 (the cluster bus): both must be free.
            var port = FreePort.Get();
            if (port + 10000 < 65536 && IsFree(port + 10000) && !cluster.Ports.Contains(port))
            {
                cluster.Ports.Add(port);
            }
        }

        foreach (var port in cluster.Ports)
        {
            cluster._nodes.Add(Start(port, cluster._directory));
        }

        foreach (var port in cluster.Ports)
        {
            await WaitForPortAsync(port);
        }

        var create = await RunAsync("redis-cli", ["--cluster", "create", .. cluster.Ports.Select(p => $"127.0.0.1:{p}"), "--cluster-replicas", "0", "--cluster-yes"]);
        Assert.Contains("All 16384 slots covered", create);
        await Eventually.TrueAsync(async () => (await RunAsync("redis-cli", ["-p", cluster.Ports[0].ToString(CultureInfo.InvariantCulture), "cluster", "info"]))
            .Contains("cluster_state:ok", StringComparison.Ordinal), TimeSpan.FromSeconds(20), "the cluster did not become ready");
        return cluster;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var node in _nodes)
        {
            if (!node.HasExited)
            {
                node.Kill(entireProcessTree: true);
                await node.WaitForExitAsync();
            }

            node.Dispose();
        }

        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private static Process Start(int port, string directory)
    {
        var p = port.ToString(CultureInfo.InvariantCulture);
        var start = new ProcessStartInfo("redis-server") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in (string[])["--port", p, "--bind", "127.0.0.1", "--cluster-enabled", "yes", "--cluster-config-file", $"nodes-{p}.conf",
                     "--dir", directory, "--dbfilename", $"dump-{p}.rdb", "--save", "", "--appendonly", "no"])
        {
            start.ArgumentList.Add(a);
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException("redis-server did not start");
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private static bool IsFree(int port)
    {
        try
        {
            using var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private static async Task WaitForPortAsync(int port)
    {
        await Eventually.TrueAsync(async () =>
        {
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, port);
                return true;
            }
            catch (SocketException)
            {
                return false;
            }
        }, TimeSpan.FromSeconds(10), $"redis-server did not listen on {port}");
    }

    private static async Task<string> RunAsync(string file, IEnumerable<string> args)
    {
        var start = new ProcessStartInfo(file) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }

        using var process = Process.Start(start)!;
        var output = await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        return output;
    }
}
