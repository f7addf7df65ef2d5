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
        return await copy.CliAsync(args);
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

        // Ready means loaded: redis-server says so after it has read the saved data (before that, an open port answers
        // LOADING), or it exits (its port taken).
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _process.OutputDataReceived += (_, e) =>
        {
            if (e.Data?.Contains("Ready to accept connections", StringComparison.Ordinal) == true)
            {
                ready.TrySetResult();
            }
        };
        _process.ErrorDataReceived += (_, _) => { };
        _process.EnableRaisingEvents = true;
        _process.Exited += (_, _) => ready.TrySetException(new InvalidOperationException($"redis-server on port {Port} exited at start"));
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        try
        {
            await ready.Task.WaitAsync(TimeSpan.FromSeconds(10));
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"redis-server did not start on port {Port}");
        }
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
