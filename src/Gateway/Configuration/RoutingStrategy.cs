namespace Gateway.Configuration;

/// <summary>How a model's deployments are ordered for one request (the first is tried first, the rest are fallbacks).</summary>
internal enum RoutingStrategy
{
    /// <summary>As listed in gateway.json.</summary>
    Ordered,

    /// <summary>A shuffle where each deployment comes first in proportion to its weight.</summary>
    Weighted,

    /// <summary>Fewest attempts in flight on this replica first; ties broken at random.</summary>
    LeastInFlight,

    /// <summary>Lowest observed time to the first token first, with a little exploration.</summary>
    LowestLatency,

    /// <summary>Lowest price (input + output per million tokens) first; ties as listed.</summary>
    Cheapest,
}

internal static class RoutingStrategies
{
    public static readonly string[] Names = ["ordered", "weighted", "least-in-flight", "lowest-latency", "cheapest"];

    public static RoutingStrategy? Parse(string? name) => name?.ToLowerInvariant() switch
    {
        null or "" or "ordered" => RoutingStrategy.Ordered,
        "weighted" => RoutingStrategy.Weighted,
        "least-in-flight" => RoutingStrategy.LeastInFlight,
        "lowest-latency" => RoutingStrategy.LowestLatency,
        "cheapest" => RoutingStrategy.Cheapest,
        _ => null,
    };
}
