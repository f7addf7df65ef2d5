using System.Collections.Concurrent;

namespace ProviderSimulator;

/// <summary>What the simulator received, so tests can check what a gateway actually sent upstream.</summary>
public sealed class RequestLog(Microsoft.Extensions.Options.IOptions<SimulatorOptions> options)
{
    private readonly bool _enabled = options.Value.RecordRequests;

    private const int Capacity = 500;
    private readonly ConcurrentQueue<LoggedRequest> _entries = new();
    private long _sequence;

    public LoggedRequest Add(string provider, HttpRequest request, string body)
    {
        var entry = new LoggedRequest
        {
            Sequence = Interlocked.Increment(ref _sequence),
            Provider = provider,
            Method = request.Method,
            Path = request.Path + request.QueryString,
            Authorization = request.Headers.Authorization.ToString(),
            ApiKeyHeader = request.Headers["x-api-key"].ToString(),
            RequestId = request.Headers["x-request-id"].ToString(),
            HeaderNames = [.. request.Headers.Keys.Select(k => k.ToLowerInvariant())],
            Body = body,
            ReceivedAt = DateTimeOffset.UtcNow,
        };
        if (!_enabled)
        {
            return entry;
        }

        _entries.Enqueue(entry);
        while (_entries.Count > Capacity && _entries.TryDequeue(out _))
        {
        }

        return entry;
    }

    private readonly ConcurrentDictionary<string, int> _attempts = new(StringComparer.Ordinal);

    /// <summary>Counts this request among those with its x-request-id at this provider (1 for the first); for fail_first.</summary>
    public int CountAttempt(string provider, HttpRequest request)
    {
        var id = request.Headers["x-request-id"].ToString();
        if (id.Length == 0)
        {
            return 1;
        }

        if (_attempts.Count > 10_000)
        {
            _attempts.Clear();
        }

        return _attempts.AddOrUpdate(provider + "|" + id, 1, (_, n) => n + 1);
    }

    public IReadOnlyList<LoggedRequest> All => [.. _entries];

    public void Clear() => _entries.Clear();
}

public sealed class LoggedRequest
{
    public long Sequence { get; init; }
    public required string Provider { get; init; }
    public required string Method { get; init; }
    public required string Path { get; init; }
    public required string Authorization { get; init; }
    public required string ApiKeyHeader { get; init; }
    public required string RequestId { get; init; }

    /// <summary>Every header name the caller sent, lower-case (to prove what a gateway does not send).</summary>
    public List<string> HeaderNames { get; init; } = [];

    public required string Body { get; init; }
    public DateTimeOffset ReceivedAt { get; init; }

    /// <summary>Set when the caller went away before the simulator finished answering.</summary>
    public bool Aborted { get; set; }

    public bool Completed { get; set; }
}
