namespace Gateway.Configuration;

/// <summary>
/// <c>Routing</c> in gateway.json: how failures of one deployment are ridden out (retries, circuit breaking) and how
/// long a request may take as a whole. The strategy that orders a model's deployments is per model
/// (<c>Models:&lt;name&gt;:Strategy</c>).
/// </summary>
public sealed class RoutingOptions
{
    public RetryOptions Retry { get; set; } = new();

    public CircuitOptions Circuit { get; set; } = new();

    /// <summary>Deadline of a request that sends no <c>x-gateway-timeout-ms</c>; 0 = none beyond the providers' own timeouts.</summary>
    public double DefaultTimeoutSeconds { get; set; }

    /// <summary>The longest deadline a client may ask for; longer ones are refused with 400.</summary>
    public double MaxTimeoutSeconds { get; set; } = 3600;

    /// <summary>
    /// Under <c>lowest-latency</c>, the share of requests that go to a deployment drawn at random, so that a deployment
    /// that was slow is measured again and can win its traffic back.
    /// </summary>
    public double ExplorationRate { get; set; } = 0.05;
}

/// <summary>Retries at the same deployment, before anything reached the client.</summary>
public sealed class RetryOptions
{
    /// <summary>Retries after the first attempt at one deployment (0 = none); then the next deployment is tried.</summary>
    public int MaxRetries { get; set; } = 2;

    /// <summary>First backoff; each retry doubles it, with jitter, up to <see cref="MaxDelayMilliseconds"/>.</summary>
    public int BaseDelayMilliseconds { get; set; } = 200;

    public int MaxDelayMilliseconds { get; set; } = 2000;

    /// <summary>
    /// A provider's 429 is retried at the same deployment only when its <c>retry-after</c> is at most this long (and fits in
    /// the request's deadline); otherwise the next deployment is tried at once.
    /// </summary>
    public double MaxRetryAfterSeconds { get; set; } = 5;
}

/// <summary>Per-deployment circuit breaking: after repeated failures a deployment is skipped for a cool-down, then probed.</summary>
public sealed class CircuitOptions
{
    /// <summary>Consecutive failed attempts that open the circuit; 0 turns circuit breaking off.</summary>
    public int FailureThreshold { get; set; } = 5;

    /// <summary>First cool-down; each failed probe doubles it, up to <see cref="MaxBreakSeconds"/>.</summary>
    public double BreakSeconds { get; set; } = 30;

    public double MaxBreakSeconds { get; set; } = 300;

    /// <summary>
    /// How many different client keys must be among the consecutive failures before the circuit opens. A circuit is
    /// shared by every key, so one key's traffic alone (however it fails) must not send everyone else to the fallback.
    /// 1 restores the single-tenant behaviour (any key's failures count), for a gateway that serves one team.
    /// </summary>
    public int MinKeys { get; set; } = 2;
}

/// <summary>The validated, immutable form of <see cref="RoutingOptions"/> that requests read.</summary>
internal sealed record RoutingSettings(
    int MaxRetries,
    TimeSpan BaseDelay,
    TimeSpan MaxDelay,
    TimeSpan MaxRetryAfter,
    int FailureThreshold,
    TimeSpan BreakDuration,
    TimeSpan MaxBreakDuration,
    int CircuitMinKeys,
    TimeSpan? DefaultTimeout,
    TimeSpan MaxTimeout,
    double ExplorationRate)
{
    public static readonly RoutingSettings Default = Compile(new RoutingOptions(), []);

    public bool CircuitBreaking => FailureThreshold > 0;

    public static RoutingSettings Compile(RoutingOptions o, List<string> errors)
    {
        void Check(bool ok, string message)
        {
            if (!ok)
            {
                errors.Add("Routing:" + message);
            }
        }

        Check(o.Retry.MaxRetries is >= 0 and <= 10, "Retry:MaxRetries: must be 0 to 10.");
        Check(o.Retry.BaseDelayMilliseconds > 0, "Retry:BaseDelayMilliseconds: must be positive.");
        Check(o.Retry.MaxDelayMilliseconds >= o.Retry.BaseDelayMilliseconds, "Retry:MaxDelayMilliseconds: must be at least BaseDelayMilliseconds.");
        Check(o.Retry.MaxRetryAfterSeconds >= 0, "Retry:MaxRetryAfterSeconds: must not be negative.");
        Check(o.Circuit.FailureThreshold >= 0, "Circuit:FailureThreshold: must not be negative (0 turns circuit breaking off).");
        Check(o.Circuit.BreakSeconds > 0, "Circuit:BreakSeconds: must be positive.");
        Check(o.Circuit.MaxBreakSeconds >= o.Circuit.BreakSeconds, "Circuit:MaxBreakSeconds: must be at least BreakSeconds.");
        Check(o.Circuit.MinKeys is >= 1 and <= 100, "Circuit:MinKeys: must be 1 to 100.");
        Check(o.DefaultTimeoutSeconds >= 0, "DefaultTimeoutSeconds: must not be negative (0 = no deadline).");
        Check(o.MaxTimeoutSeconds > 0, "MaxTimeoutSeconds: must be positive.");
        Check(o.ExplorationRate is >= 0 and <= 1, "ExplorationRate: must be between 0 and 1.");
        return new RoutingSettings(
            Math.Clamp(o.Retry.MaxRetries, 0, 10),
            TimeSpan.FromMilliseconds(Math.Max(1, o.Retry.BaseDelayMilliseconds)),
            TimeSpan.FromMilliseconds(Math.Max(1, o.Retry.MaxDelayMilliseconds)),
            TimeSpan.FromSeconds(Math.Max(0, o.Retry.MaxRetryAfterSeconds)),
            Math.Max(0, o.Circuit.FailureThreshold),
            TimeSpan.FromSeconds(Math.Max(0.001, o.Circuit.BreakSeconds)),
            TimeSpan.FromSeconds(Math.Max(o.Circuit.BreakSeconds, o.Circuit.MaxBreakSeconds)),
            Math.Clamp(o.Circuit.MinKeys, 1, 100),
            o.DefaultTimeoutSeconds > 0 ? TimeSpan.FromSeconds(o.DefaultTimeoutSeconds) : null,
            TimeSpan.FromSeconds(Math.Max(0.001, o.MaxTimeoutSeconds)),
            Math.Clamp(o.ExplorationRate, 0, 1));
    }
}
