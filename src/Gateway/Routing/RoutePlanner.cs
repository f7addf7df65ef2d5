using Gateway.Configuration;

namespace Gateway.Routing;

/// <summary>The deployments one request will try, in order.</summary>
/// <param name="Panic">
/// Every deployment's circuit is open: all are tried anyway, in strategy order, since a certain refusal helps nobody and
/// a deployment may have recovered before its cool-down is over.
/// </param>
internal sealed record RoutePlan(IReadOnlyList<Deployment> Deployments, bool Panic)
{
    /// <summary>Deployments left out because their circuit is open.</summary>
    public IReadOnlyList<Deployment> Skipped { get; init; } = [];
}

/// <summary>
/// Orders a model's deployments for one request by the model's <see cref="RoutingStrategy"/>, then leaves out those whose
/// circuit is open. Reads only this replica's <see cref="DeploymentHealthRegistry"/> (circuits opened by other replicas
/// arrive there through <see cref="ICircuitShare"/>).
/// </summary>
internal sealed class RoutePlanner(DeploymentHealthRegistry health, TimeProvider clock)
{
    public RoutePlan Plan(ModelRoute route, RoutingSettings settings)
    {
        var ordered = Order(route, settings);
        if (!settings.CircuitBreaking)
        {
            return new RoutePlan(ordered, Panic: false);
        }

        var now = clock.GetUtcNow();
        var available = ordered.Where(d => health.For(d).Circuit.IsAvailable(now)).ToList();
        if (available.Count == 0)
        {
            return new RoutePlan(ordered, Panic: true);
        }

        return available.Count == ordered.Count
            ? new RoutePlan(ordered, Panic: false)
            : new RoutePlan(available, Panic: false) { Skipped = [.. ordered.Except(available)] };
    }

    private IReadOnlyList<Deployment> Order(ModelRoute route, RoutingSettings settings)
    {
        var deployments = route.Deployments;
        if (deployments.Count < 2)
        {
            return deployments;
        }

        return route.Strategy switch
        {
            RoutingStrategy.Weighted => WeightedShuffle(deployments),
            RoutingStrategy.LeastInFlight => [.. deployments.OrderBy(d => health.For(d).InFlight).ThenBy(_ => Random.Shared.Next())],
            RoutingStrategy.LowestLatency => ByLatency(deployments, settings.ExplorationRate),
            // Stable: equal prices keep the configured order.
            RoutingStrategy.Cheapest => [.. deployments.OrderBy(d => d.Price.InputMicrosPerMillion + d.Price.OutputMicrosPerMillion)],
            _ => deployments,
        };
    }

    /// <summary>
    /// Each deployment draws key u^(1/weight) and the highest key goes first (Efraimidis–Spirakis): the first place falls to
    /// each deployment in proportion to its weight, and the fallbacks follow in the same spirit.
    /// </summary>
    private static Deployment[] WeightedShuffle(IReadOnlyList<Deployment> deployments) =>
        [.. deployments.OrderByDescending(d => Math.Pow(Random.Shared.NextDouble(), 1 / d.Weight))];

    /// <summary>
    /// Unmeasured deployments first (they must be measured once), then by smoothed latency. A share of requests, the
    /// exploration rate, puts one deployment drawn at random first, so a slow one that recovered is noticed.
    /// </summary>
    private Deployment[] ByLatency(IReadOnlyList<Deployment> deployments, double explorationRate)
    {
        var ordered = deployments.OrderBy(d => health.For(d).LatencyMilliseconds ?? -1).ToList();
        if (explorationRate > 0 && Random.Shared.NextDouble() < explorationRate)
        {
            var pick = ordered[Random.Shared.Next(ordered.Count)];
            ordered.Remove(pick);
            ordered.Insert(0, pick);
        }

        return [.. ordered];
    }
}
