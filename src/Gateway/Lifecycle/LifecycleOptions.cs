namespace Gateway.Lifecycle;

/// <summary>gateway.json <c>Lifecycle</c>: how a replica leaves a load balancer's rotation. Read at start-up.</summary>
public sealed class LifecycleOptions
{
    /// <summary>
    /// After SIGTERM, how long the replica keeps serving everything while <c>/readyz</c> already answers 503, so the
    /// load balancer (or Kubernetes' endpoints) moves new traffic away before the listener closes.
    /// </summary>
    public double DrainDelaySeconds { get; set; } = 5;

    /// <summary>Then, how long requests and streams in flight may take to finish; a stream still open after it gets an error event.</summary>
    public double ShutdownGraceSeconds { get; set; } = 25;

    public TimeSpan DrainDelay => TimeSpan.FromSeconds(Math.Max(0, DrainDelaySeconds));

    public TimeSpan ShutdownGrace => TimeSpan.FromSeconds(Math.Max(0, ShutdownGraceSeconds));
}
