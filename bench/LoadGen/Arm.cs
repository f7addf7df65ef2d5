using System.Net.Http.Headers;
using System.Text;

namespace LoadGen;

/// <summary>One way of reaching the simulated provider: straight, through nginx, through the floor relay, or through the gateway.</summary>
internal sealed class Arm(string name, Uri baseUrl, string path, string apiKey, string model, int? pid)
{
    public string Name => name;
    public Uri BaseUrl => baseUrl;
    public int? Pid => pid;

    /// <summary>The processes whose CPU this arm costs: nginx's workers; the gateway (and redis-server with Redis).</summary>
    public IReadOnlyList<int> CpuPids { get; set; } = pid is null ? [] : [pid.Value];

    /// <summary>User+system CPU time of <see cref="CpuPids"/> so far, in microseconds (Linux /proc; clock ticks of 10 ms).</summary>
    public double? CpuMicros()
    {
        if (CpuPids.Count == 0)
        {
            return null;
        }

        double ticks = 0;
        foreach (var p in CpuPids)
        {
            // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
            var stat = File.ReadAllText($"/proc/{p}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            ticks += long.Parse(fields[11], System.Globalization.CultureInfo.InvariantCulture) + long.Parse(fields[12], System.Globalization.CultureInfo.InvariantCulture);
        }

        return ticks * 1_000_000 / 100;
    }

    /// <summary>The provider-side arms speak DeepInfra's dialect; the gateway arms speak OpenAI's. Same prompt either way.</summary>
    public static Arm Provider(string name, Uri url, int? pid = null) =>
        new(name, url, "/v1/openai/chat/completions", "sim-deepinfra-key", "meta-llama/Meta-Llama-3.1-8B-Instruct", pid);

    public static Arm Gateway(string name, Uri url, int? pid) => new(name, url, "/v1/chat/completions", "sk-bench-key", "bench-llama", pid);

    /// <summary>bench/Floor relays the request untouched: the gateway's path, carrying the provider's key and model.</summary>
    public static Arm Floor(string name, Uri url, int pid) =>
        new(name, url, "/v1/chat/completions", "sim-deepinfra-key", "meta-llama/Meta-Llama-3.1-8B-Instruct", pid);

    public HttpRequestMessage Request(string prompt, bool stream)
    {
        var body = stream
            ? $$"""{"model":"{{model}}","stream":true,"messages":[{"role":"user","content":"{{prompt}}"}]}"""
            : $$"""{"model":"{{model}}","messages":[{"role":"user","content":"{{prompt}}"}]}""";
        var request = new HttpRequestMessage(HttpMethod.Post, new Uri(baseUrl, path))
        {
            Content = new ByteArrayContent(Encoding.UTF8.GetBytes(body)),
            Version = new Version(1, 1),
        };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        return request;
    }

    /// <summary>Resident memory of the arm's process, in MB (Linux /proc).</summary>
    public double? RssMb()
    {
        if (pid is null)
        {
            return null;
        }

        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                return double.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture) / 1024;
            }
        }

        return null;
    }
}
