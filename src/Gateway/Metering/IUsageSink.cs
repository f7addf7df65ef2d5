namespace Gateway.Metering;

/// <summary>Receives usage records; never blocks the request path.</summary>
internal interface IUsageSink
{
    void Record(UsageRecord record);
}
