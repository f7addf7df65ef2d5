using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Gateway.Tests.Infrastructure;

/// <summary>A real redis-server of the test's own, on a free loopback port, without persistence.</summary>
public sealed class RedisServer : IAsyncDisposable
{
    private Process? _process;

    private readonly string _directory;

    private RedisServer(int port, string directory)
    {
        Port = port;
        _directory = directory;
    }

    public int Port { get; }

    public string Configuration => $"127.0.0.1:{Port}";

    public static async Task<RedisServer> StartAsync()
    {
        var server = new RedisServer(FreePort.Get(), Directory.CreateTempSubdirectory("redis-test-").FullName);
        await server.StartProcessAsync();
        return server;
    }

    /// <summary>Stops the server: as a crash would, or (<paramref name="save"/>) as an orderly shutdown that keeps the data.</summary>
    public async Task StopAsync(bool save = false)
    {
        if (save && _process is { HasExited: false })
        {
            await CliAsync("SHUTDOWN", "SAVE");
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        }

        if (_process is { HasExited: false })
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process?.Dispose();
        _process = null;
    }

    public Task RestartAsync() => StartProcessAsync();

    /// <summary>
    /// Runs one command against what the last <see cref="StopAsync"/> with save wrote, on a server of its own on another
    /// port: a look at the saved data before this server restarts, which no client reconnecting to it can change first.
    /// </summary>
    public async Task<string> CliOnSavedDataAsync(params string[] args)
    {
        await using var copy = new RedisServer(FreePort.Get(), _directory);
        await copy.StartProcessAsync();
        var output = await copy.CliAsync(args);
        // Listening is not loaded: a server answers LOADING until the saved data is in memory.
        for (var i = 0; i < 100 && output.StartsWith("LOADING", StringComparison.Ordinal); i++)
        {
            await Task.Delay(50);
            output = await copy.CliAsync(args);
        }

        return output;
    }

    /// <summary>Freezes the server (SIGSTOP): connections stay open, commands wait in its socket buffers, as in a long stall.</summary>
    public Task PauseAsync() => SignalAsync("-STOP");

    /// <summary>Lets a paused server run again (SIGCONT): it then executes every command that waited.</summary>
    public Task ResumeAsync() => SignalAsync("-CONT");

    private async Task SignalAsync(string signal)
    {
        using var kill = Process.Start(new ProcessStartInfo("kill", [signal, _process!.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])
        {
            UseShellExecute = false,
        })!;
        await kill.WaitForExitAsync();
    }

    public async Task<string> CliAsync(params string[] args)
    {
        var start = new ProcessStartInfo("redis-cli") { RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in (string[])["-p", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), .. args])
        {
            start.ArgumentList.Add(a);
        }

        using var cli = Process.Start(start)!;
        var output = await cli.StandardOutput.ReadToEndAsync();
        await cli.WaitForExitAsync();
        return output.Trim();
    }

    public async ValueTask DisposeAsync() => await StopAsync();

    private async Task StartProcessAsync()
    {
        var start = new ProcessStartInfo("redis-server")
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var a in (string[])["--port", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1",
                     "--save", "", "--appendonly", "no", "--protected-mode", "yes",
                     "--dir", _directory, "--dbfilename", "dump.rdb"])
        {
            start.ArgumentList.Add(a);
        }

        try
        {
            _process = Process.Start(start)!;
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new InvalidOperationException("redis-server is not installed: run 'apt-get install -y redis-server' (.ci/run does).", ex);
        }

        _process.OutputDataReceived += (_, _) => { };
        _process.ErrorDataReceived += (_, _) => { };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, Port);
                return;
            }
            catch (SocketException)
            {
                await Task.Delay(50);
            }
        }

        throw new TimeoutException($"redis-server did not start on port {Port}");
    }
}

public static class FreePort
{
    public static int Get()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
