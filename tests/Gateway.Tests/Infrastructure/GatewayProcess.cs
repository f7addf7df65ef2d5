using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;

namespace Gateway.Tests.Infrastructure;

/// <summary>
/// The gateway as a separate process (<c>dotnet Gateway.dll</c> from the test output), for what
/// only a real process shows: environment variables, exit codes, several replicas.
/// </summary>
public sealed partial class GatewayProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private GatewayProcess(Process process) => _process = process;

    public Uri? BaseUrl { get; private set; }

    /// <summary>The process's resident memory now, from /proc (Linux).</summary>
    public long ResidentBytes
    {
        get
        {
            var line = File.ReadLines($"/proc/{_process.Id}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
            return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture) * 1024;
        }
    }

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    public static GatewayProcess Start(string configPath, IDictionary<string, string>? environment = null, params string[] args)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "Gateway.dll");
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetDirectoryName(configPath)!,
        };
        start.ArgumentList.Add(dll);
        start.ArgumentList.Add("--urls=http://127.0.0.1:0");
        start.ArgumentList.Add("--Logging:LogLevel:Default=Warning");
        start.ArgumentList.Add("--Logging:LogLevel:Microsoft.Hosting.Lifetime=Information");
        // Each replica keeps its own journal and spill, as on separate machines.
        start.ArgumentList.Add($"--Metering:JournalDirectory={Directory.CreateTempSubdirectory("gateway-journal-").FullName}");
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment["GATEWAY_CONFIG"] = configPath;
        start.Environment["DOTNET_NOLOGO"] = "1";
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }

        var process = new GatewayProcess(Process.Start(start)!);
        process._process.OutputDataReceived += (_, e) => process.Append(e.Data);
        process._process.ErrorDataReceived += (_, e) => process.Append(e.Data);
        process._process.BeginOutputReadLine();
        process._process.BeginErrorReadLine();
        return process;
    }

    /// <summary>Waits until Kestrel reports its address; fails with the process output if it exits instead.</summary>
    public async Task<Uri> WaitUntilListeningAsync(TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(30));
        while (DateTime.UtcNow < deadline)
        {
            if (Listening().Match(Output) is { Success: true } m)
            {
                return BaseUrl = new Uri(m.Groups[1].Value);
            }

            if (_process.HasExited)
            {
                throw new InvalidOperationException($"gateway exited with {_process.ExitCode}:\n{Output}");
            }

            await Task.Delay(50);
        }

        throw new TimeoutException("gateway did not start listening:\n" + Output);
    }

    /// <summary>SIGKILL: the replica dies mid-request, as on a lost node or an OOM kill.</summary>
    public void Kill() => _process.Kill();

    /// <summary>Sends SIGTERM, as a container runtime or Kubernetes does to stop a replica.</summary>
    public async Task TerminateAsync()
    {
        using var kill = Process.Start(new ProcessStartInfo("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])
        {
            UseShellExecute = false,
        })!;
        await kill.WaitForExitAsync();
    }

    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(cts.Token);
        return _process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.AppendLine(line);
        }
    }

    [GeneratedRegex(@"Now listening on: (http://127\.0\.0\.1:\d+)")]
    private static partial Regex Listening();
}
