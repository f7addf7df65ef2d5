namespace Gateway.Tests.Infrastructure;

/// <summary>
/// A day budget counts one period of Redis's clock, its id the days since 1970-01-01 UTC (the budget hash's
/// <c>period</c>), and a new day starts it over; usage is reported by UTC day. A test that compares a budget with what
/// was metered compares it with the usage of the budget's own day: a run that crosses midnight UTC holds in the budget
/// only what was spent since, while the usage of the last 30 days holds both days (CI's run at stop 40 crossed it).
/// </summary>
public static class BudgetDays
{
    public static DateOnly Of(long period) => DateOnly.FromDayNumber(DateOnly.FromDateTime(DateTime.UnixEpoch).DayNumber + checked((int)period));

    /// <summary>The day of a budget hash's <c>period</c> field as Redis holds it; today (UTC) when there is none yet.</summary>
    public static DateOnly Of(string? period) =>
        period is { Length: > 0 } ? Of(long.Parse(period, System.Globalization.CultureInfo.InvariantCulture)) : DateOnly.FromDateTime(DateTime.UtcNow);

    /// <summary>
    /// The UTC day a usage record's request began (its <c>timestamp</c>, when it ended, less its <c>latency_ms</c>; a
    /// lost reservation's record is stamped when it was admitted): the day whose budget it was charged to.
    /// </summary>
    public static DateOnly OfRecord(System.Text.Json.JsonElement record)
    {
        var at = DateTimeOffset.Parse(record.GetProperty("timestamp").GetString()!, System.Globalization.CultureInfo.InvariantCulture);
        if (record.TryGetProperty("latency_ms", out var latency) && latency.ValueKind == System.Text.Json.JsonValueKind.Number)
        {
            at -= TimeSpan.FromMilliseconds(latency.GetDouble());
        }

        return DateOnly.FromDateTime(at.UtcDateTime);
    }

    public static string Text(DateOnly day) => day.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture);
}
