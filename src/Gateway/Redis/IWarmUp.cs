namespace Gateway.Redis;

/// <summary>A component with something to prepare before the replica is ready (scripts loaded, a subscription made).</summary>
internal interface IWarmUp
{
    Task WarmUpAsync();
}
