using Gateway.Requests;
using Gateway.Configuration;
using Gateway.Errors;
using Gateway.Forwarding;
using Gateway.Routing;
using Gateway.Translators.Providers.DeepInfra;
using Gateway.Translators.Translation;

namespace Gateway.Tests.Routing;

/// <summary>The routing pieces on their own: circuit state machine, retry decisions, strategies' orders.</summary>
public sealed class RoutingUnitTests
{
    private static readonly DateTimeOffset T0 = DateTimeOffset.Parse("2026-11-30T12:00:00Z", System.Globalization.CultureInfo.InvariantCulture);

    private static RoutingSettings Settings(int threshold = 3, double breakSeconds = 10, double maxBreakSeconds = 25, double maxRetryAfter = 5,
        int minKeys = 2) =>
        RoutingSettings.Compile(new RoutingOptions
        {
            Circuit = new CircuitOptions { FailureThreshold = threshold, BreakSeconds = breakSeconds, MaxBreakSeconds = maxBreakSeconds, MinKeys = minKeys },
            Retry = new RetryOptions { MaxRetryAfterSeconds = maxRetryAfter },
        }, []);

    [Fact]
    public void Circuit_OpensAtTheThreshold_ProbesOnce_DoublesItsCoolDown_ClosesOnSuccess()
    {
        var s = Settings();
        var c = new CircuitBreaker();
        Assert.Null(c.OnFailure(false, T0, s, "kA"));
        Assert.Null(c.OnFailure(false, T0, s, "kB"));
        Assert.Null(c.OnSuccess(false)); // a success in between starts the count again
        Assert.Null(c.OnFailure(false, T0, s, "kA"));
        Assert.Null(c.OnFailure(false, T0, s, "kB"));
        var opened = c.OnFailure(false, T0, s, "kA");
        Assert.Equal(new CircuitChange(true, TimeSpan.FromSeconds(10)), opened);

        Assert.False(c.TryEnter(T0.AddSeconds(9.9), out _));
        Assert.False(c.IsAvailable(T0.AddSeconds(9.9)));
        Assert.True(c.TryEnter(T0.AddSeconds(10), out var probe));
        Assert.True(probe);
        // While the probe is out, nobody else goes.
        Assert.False(c.TryEnter(T0.AddSeconds(10), out _));
        Assert.Equal(CircuitState.HalfOpen, c.View(T0.AddSeconds(10)).State);

        // The probe fails: twice the cool-down.
        Assert.Equal(new CircuitChange(true, TimeSpan.FromSeconds(20)), c.OnFailure(probe, T0.AddSeconds(10), s, "kA"));
        Assert.False(c.TryEnter(T0.AddSeconds(29), out _));
        Assert.True(c.TryEnter(T0.AddSeconds(30), out probe));
        // And again, capped at the maximum.
        Assert.Equal(new CircuitChange(true, TimeSpan.FromSeconds(25)), c.OnFailure(probe, T0.AddSeconds(30), s, "kA"));

        Assert.True(c.TryEnter(T0.AddSeconds(55), out probe));
        Assert.Equal(new CircuitChange(false, TimeSpan.Zero), c.OnSuccess(probe));
        Assert.Equal(CircuitState.Closed, c.View(T0.AddSeconds(55)).State);
        Assert.True(c.TryEnter(T0.AddSeconds(55), out probe));
        Assert.False(probe);
    }

    [Fact]
    public void Circuit_OneKeysFailures_NeverOpenIt_ASecondKeysDo()
    {
        var s = Settings(threshold: 3);
        var c = new CircuitBreaker();
        for (var i = 0; i < 50; i++)
        {
            Assert.Null(c.OnFailure(false, T0, s, "attacker"));
        }

        Assert.Equal(CircuitState.Closed, c.View(T0).State);
        // Another key failing too is evidence that the deployment, not one tenant's traffic, is the problem.
        Assert.Equal(new CircuitChange(true, TimeSpan.FromSeconds(10)), c.OnFailure(false, T0, s, "victim"));

        // A success forgets who failed: the next run must again come from two keys.
        Assert.True(c.TryEnter(T0.AddSeconds(10), out var probe));
        c.OnSuccess(probe);
        for (var i = 0; i < 10; i++)
        {
            Assert.Null(c.OnFailure(false, T0.AddSeconds(11), s, "victim"));
        }

        // With MinKeys 1 (one team's gateway), one key's failures are enough.
        var single = new CircuitBreaker();
        var one = Settings(threshold: 3, minKeys: 1);
        Assert.Null(single.OnFailure(false, T0, one, "kA"));
        Assert.Null(single.OnFailure(false, T0, one, "kA"));
        Assert.NotNull(single.OnFailure(false, T0, one, "kA"));
    }

    [Fact]
    public void Circuit_CountsOnlyFaultsTheClientCouldNotHaveCaused()
    {
        Assert.True(AttemptResult.Before(GatewayError.UpstreamUnreachable(), retryable: true).IsDeploymentFault);
        Assert.True(AttemptResult.FromUpstream(new UpstreamError(UpstreamErrorClass.Transient, 503, "down")).IsDeploymentFault);
        // A generation as long as the client asked for, a stream past its total limit.
        Assert.False((AttemptResult.Before(GatewayError.UpstreamTimeout(), retryable: true) with { ShapedByRequest = true }).IsDeploymentFault);
        Assert.False((AttemptResult.During(GatewayError.UpstreamTimeout()) with { ShapedByRequest = true }).IsDeploymentFault);
        // A provider's 4xx, even when its wording made it the deployment's (Hive's "model not supported" 400).
        Assert.False(AttemptResult.FromUpstream(new UpstreamError(UpstreamErrorClass.Misconfigured, 400, "model is not supported")).IsDeploymentFault);
        // The gateway's own credentials refused: no client did that.
        Assert.True(AttemptResult.FromUpstream(new UpstreamError(UpstreamErrorClass.Credential, 401, "bad key")).IsDeploymentFault);
    }

    [Fact]
    public void Circuit_AProbeThatSaysNothing_LetsTheNextRequestProbe()
    {
        var s = Settings(threshold: 1, minKeys: 1);
        var c = new CircuitBreaker();
        c.OnFailure(false, T0, s, "kA");
        Assert.True(c.TryEnter(T0.AddSeconds(10), out var probe));
        c.OnNeutral(probe); // e.g. the client left
        Assert.True(c.TryEnter(T0.AddSeconds(10), out probe));
        Assert.True(probe);
    }

    [Fact]
    public void Circuit_OpenedAndClosedElsewhere_AreFollowed()
    {
        var c = new CircuitBreaker();
        c.OpenedElsewhere(T0, TimeSpan.FromSeconds(7));
        Assert.False(c.TryEnter(T0.AddSeconds(6), out _));
        Assert.Equal(T0.AddSeconds(7), c.View(T0).OpenUntil);
        c.ClosedElsewhere();
        Assert.True(c.TryEnter(T0.AddSeconds(6), out var probe));
        Assert.False(probe);
    }

    [Theory]
    [InlineData(null, "upstream_unreachable", null, true)]           // connect refused / reset
    [InlineData(null, "upstream_stream_interrupted", null, true)]    // dropped while reading the answer
    [InlineData(503, "upstream_error", null, true)]
    [InlineData(502, "upstream_error", null, true)]
    [InlineData(500, "upstream_error", null, false)]                 // a 500 may be the request's doing: next deployment
    [InlineData(null, "upstream_timeout", null, false)]              // slow: the next deployment, not more waiting
    [InlineData(429, "rate_limit_exceeded", 2.0, true)]              // retry-after within the limit
    [InlineData(429, "rate_limit_exceeded", 30.0, false)]            // too long to wait here
    [InlineData(429, "rate_limit_exceeded", null, false)]            // no retry-after: no hammering
    [InlineData(503, "upstream_error", 30.0, false)]                 // a 503 that asks for a long pause
    [InlineData(400, "upstream_rejected_request", null, false)]
    [InlineData(502, "upstream_misconfigured", null, true)]          // a 502 status from the provider itself
    public void RetryDecision_RetriesOnlyWhatMayPass(int? upstreamStatus, string code, double? retryAfterSeconds, bool retried)
    {
        var error = new GatewayError(upstreamStatus ?? 502, "server_error", "x", Code: code)
        {
            RetryAfter = retryAfterSeconds is { } s ? TimeSpan.FromSeconds(s) : null,
        };
        var result = AttemptResult.Before(error, retryable: true) with { UpstreamStatus = upstreamStatus };
        Assert.Equal(retried, RetryDecision.WorthRetrying(result, Settings(), deadline: null, attemptNumber: 0));
    }

    [Fact]
    public void RetryDecision_NeverAfterTheAnswerStarted()
    {
        var result = AttemptResult.During(GatewayError.StreamInterrupted()) with { UpstreamStatus = 503 };
        Assert.False(RetryDecision.WorthRetrying(result, Settings(), deadline: null, attemptNumber: 0));
    }

    [Fact]
    public void Strategies_OrderAsDocumented()
    {
        var registry = new DeploymentHealthRegistry();
        var planner = new RoutePlanner(registry, TimeProvider.System);
        var settings = Settings() with { ExplorationRate = 0 };
        var expensive = Deployment("a", 5, 5);
        var cheap = Deployment("b", 1, 1);
        var middle = Deployment("c", 2, 2);
        ModelRoute Route(RoutingStrategy strategy) => new("m", "test", 0, [expensive, cheap, middle]) { Strategy = strategy };

        Assert.Equal(["a", "b", "c"], Names(planner.Plan(Route(RoutingStrategy.Ordered), settings)));
        Assert.Equal(["b", "c", "a"], Names(planner.Plan(Route(RoutingStrategy.Cheapest), settings)));

        registry.For(expensive).Enter();
        registry.For(middle).Enter();
        registry.For(middle).Enter();
        Assert.Equal(["b", "a", "c"], Names(planner.Plan(Route(RoutingStrategy.LeastInFlight), settings)));

        registry.For(expensive).ObserveLatency(TimeSpan.FromMilliseconds(50));
        registry.For(cheap).ObserveLatency(TimeSpan.FromMilliseconds(500));
        // "c" was never measured: it goes first, to be measured.
        Assert.Equal(["c", "a", "b"], Names(planner.Plan(Route(RoutingStrategy.LowestLatency), settings)));
        registry.For(middle).ObserveLatency(TimeSpan.FromMilliseconds(100));
        Assert.Equal(["a", "c", "b"], Names(planner.Plan(Route(RoutingStrategy.LowestLatency), settings)));
    }

    [Fact]
    public void Weighted_FirstPlaceFollowsTheWeights()
    {
        var planner = new RoutePlanner(new DeploymentHealthRegistry(), TimeProvider.System);
        var route = new ModelRoute("m", "test", 0, [Deployment("heavy", 1, 1) with { Weight = 3 }, Deployment("light", 1, 1)])
        {
            Strategy = RoutingStrategy.Weighted,
        };
        var heavyFirst = Enumerable.Range(0, 20_000).Count(_ => planner.Plan(route, Settings()).Deployments[0].Target.UpstreamModel == "heavy");
        // Expected 15,000 (3 of 4); the binomial standard deviation is about 61.
        Assert.InRange(heavyFirst, 14_500, 15_500);
    }

    [Fact]
    public void OpenCircuits_AreLeftOut_UnlessEveryOneIsOpen()
    {
        var registry = new DeploymentHealthRegistry();
        var planner = new RoutePlanner(registry, TimeProvider.System);
        var a = Deployment("a", 1, 1);
        var b = Deployment("b", 1, 1);
        var route = new ModelRoute("m", "test", 0, [a, b]);
        registry.For(a).Circuit.OpenedElsewhere(DateTimeOffset.UtcNow, TimeSpan.FromMinutes(1));
        var plan = planner.Plan(route, Settings());
        Assert.Equal(["b"], Names(plan));
        Assert.False(plan.Panic);

        registry.For(b).Circuit.OpenedElsewhere(DateTimeOffset.UtcNow, TimeSpan.FromMinutes(1));
        plan = planner.Plan(route, Settings());
        Assert.Equal(["a", "b"], Names(plan));
        Assert.True(plan.Panic);
    }

    private static string[] Names(RoutePlan plan) => [.. plan.Deployments.Select(d => d.Target.UpstreamModel)];

    private static Deployment Deployment(string upstream, long input, long output)
    {
        var provider = new ProviderRuntime("p", new DeepInfraProvider(), new Uri("http://127.0.0.1:9"), "X", "key", new ProviderOptions());
        return new Deployment(provider, new DeploymentTarget { PublicModel = "m", UpstreamModel = upstream }, new Price(input, output));
    }
}
