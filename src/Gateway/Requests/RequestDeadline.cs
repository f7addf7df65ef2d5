using System.Globalization;
using Gateway.Errors;

namespace Gateway.Requests;

/// <summary>
/// How long one request may take as a whole, retries and fallbacks included: the client's <c>x-gateway-timeout-ms</c>,
/// else <c>Routing:DefaultTimeoutSeconds</c>, else none. Its token cancels whatever is in flight when the time is up, so
/// each attempt gets exactly what is left.
/// </summary>
internal sealed class RequestDeadline : IDisposable
{
    public const string Header = "x-gateway-timeout-ms";

    private readonly CancellationTokenSource? _expiry;
    private readonly TimeProvider _clock;
    private readonly long _startedAt;

    private RequestDeadline(TimeSpan? budget, TimeProvider clock)
    {
        Budget = budget;
        _clock = clock;
        _startedAt = clock.GetTimestamp();
        _expiry = budget is { } b ? new CancellationTokenSource(b, clock) : null;
    }

    /// <summary>No deadline (tools and benchmarks that drive the response path directly).</summary>
    public static RequestDeadline None(TimeProvider clock) => new(null, clock);

    /// <summary>The whole time allowed; null when the request has no deadline.</summary>
    public TimeSpan? Budget { get; }

    public CancellationToken Token => _expiry?.Token ?? CancellationToken.None;

    public bool Expired => _expiry?.IsCancellationRequested == true;

    /// <summary>Time left; null when there is no deadline.</summary>
    public TimeSpan? Remaining => Budget is { } b ? b - _clock.GetElapsedTime(_startedAt) : null;

    /// <summary>Would waiting <paramref name="delay"/> still leave time for an attempt?</summary>
    public bool Allows(TimeSpan delay) => Remaining is not { } left || delay < left;

    /// <summary>Reads the request's deadline; a malformed or too long one is the client's error.</summary>
    /// <param name="defaultTimeout">Without the header (<c>Routing:DefaultTimeoutSeconds</c>; null for none).</param>
    /// <param name="maxTimeout">The longest a client may ask for (<c>Routing:MaxTimeoutSeconds</c>).</param>
    public static RequestDeadline? Read(HttpRequest request, TimeSpan? defaultTimeout, TimeSpan maxTimeout, TimeProvider clock,
        out GatewayError? error)
    {
        error = null;
        var header = request.Headers[Header];
        if (header.Count == 0)
        {
            return new RequestDeadline(defaultTimeout, clock);
        }

        if (header.Count > 1 || !long.TryParse(header[0], NumberStyles.None, CultureInfo.InvariantCulture, out var ms) || ms <= 0)
        {
            error = GatewayError.InvalidDeadline($"{Header} must be one whole number of milliseconds greater than 0.");
            return null;
        }

        if (ms > maxTimeout.TotalMilliseconds)
        {
            error = GatewayError.InvalidDeadline($"{Header} may be at most {(long)maxTimeout.TotalMilliseconds} (this gateway's Routing:MaxTimeoutSeconds).");
            return null;
        }

        return new RequestDeadline(TimeSpan.FromMilliseconds(ms), clock);
    }

    public void Dispose() => _expiry?.Dispose();
}
