namespace Gateway.Configuration;

/// <summary>How long a provider's stream may stay silent, and may last in all.</summary>
internal readonly record struct StreamLimits(TimeSpan Idle, TimeSpan Total);
