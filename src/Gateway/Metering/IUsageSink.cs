using Gateway.Requests;
namespace Gateway.Metering;

/// <summary>Receives usage records; never blocks the request path.</summary>
internal interface IUsageSink
{
    void Record(UsageRecord record);

    /// <summary>
    /// Counts a refused request (no valid key, a bad body, an unknown model, a limit reached): nothing reached a provider
    /// and nothing was spent, so it is kept as one aggregate per day, key, model, outcome and status, written once a
    /// second, never as a record of its own. A key sending refused requests as fast as it can costs the disk and Redis
    /// a fixed amount per second, however fast it sends.
    /// </summary>
    void CountRefusal(UsageRecord refusal);
}
