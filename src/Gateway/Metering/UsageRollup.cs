using Gateway.Requests;
namespace Gateway.Metering;

/// <summary>
/// The dimensions usage is rolled up by. <see cref="Day"/> is the period: a UTC day (<c>2026-11-30</c>), or, for the
/// hourly rollups of the last days, a UTC hour (<c>2026-11-30T07</c>). <see cref="Team"/> is the key's team when the
/// request was admitted ("-": none), so a key that changes team leaves its past usage with the team it was in.
/// </summary>
internal readonly record struct RollupKey(string Day, string Key, string Model, string Provider, string Team = "-")
{
    public const string NoTeam = "-";

    public static RollupKey Of(UsageRecord r) => new(r.Day, r.Key, r.Model, r.Provider ?? "-", r.Team ?? NoTeam);

    public static RollupKey HourOf(UsageRecord r) => new(r.Hour, r.Key, r.Model, r.Provider ?? "-", r.Team ?? NoTeam);

    public bool IsHour => Day.Length > 10;
}

/// <summary>Summed counters of one rollup cell.</summary>
internal sealed class RollupTotals
{
    public long Requests { get; set; }
    public long FailedRequests { get; set; }
    public long EstimatedRequests { get; set; }
    public long PromptTokens { get; set; }
    public long CompletionTokens { get; set; }
    public long CostMicros { get; set; }
    public long ProviderCostMicros { get; set; }
    public long CacheHits { get; set; }
    public long SavedMicros { get; set; }

    /// <summary>The counter names as stored (Redis hash fields, CSV columns); new ones are only ever appended.</summary>
    public static readonly string[] Metrics =
        ["requests", "failed_requests", "estimated_requests", "prompt_tokens", "completion_tokens", "cost_micros", "provider_cost_micros",
         "cache_hits", "saved_micros"];

    public void Add(UsageRecord r)
    {
        Requests += r.Requests;
        FailedRequests += r.Failed ? r.Requests : 0;
        EstimatedRequests += r.Estimated ? 1 : 0;
        PromptTokens += r.PromptTokens;
        CompletionTokens += r.CompletionTokens;
        CostMicros += r.CostMicros;
        ProviderCostMicros += r.ProviderCostMicros ?? 0;
        CacheHits += r.CacheHit ? 1 : 0;
        SavedMicros += r.SavedMicros;
    }

    public void Add(RollupTotals t)
    {
        Requests += t.Requests;
        FailedRequests += t.FailedRequests;
        EstimatedRequests += t.EstimatedRequests;
        PromptTokens += t.PromptTokens;
        CompletionTokens += t.CompletionTokens;
        CostMicros += t.CostMicros;
        ProviderCostMicros += t.ProviderCostMicros;
        CacheHits += t.CacheHits;
        SavedMicros += t.SavedMicros;
    }

    public void Set(string metric, long value)
    {
        switch (metric)
        {
            case "requests": Requests = value; break;
            case "failed_requests": FailedRequests = value; break;
            case "estimated_requests": EstimatedRequests = value; break;
            case "prompt_tokens": PromptTokens = value; break;
            case "completion_tokens": CompletionTokens = value; break;
            case "cost_micros": CostMicros = value; break;
            case "provider_cost_micros": ProviderCostMicros = value; break;
            case "cache_hits": CacheHits = value; break;
            case "saved_micros": SavedMicros = value; break;
        }
    }

    public long[] Values(UsageRecord r) =>
        [r.Requests, r.Failed ? r.Requests : 0, r.Estimated ? 1 : 0, r.PromptTokens, r.CompletionTokens, r.CostMicros, r.ProviderCostMicros ?? 0,
         r.CacheHit ? 1 : 0, r.SavedMicros];

    public long[] Values() =>
        [Requests, FailedRequests, EstimatedRequests, PromptTokens, CompletionTokens, CostMicros, ProviderCostMicros, CacheHits, SavedMicros];

    /// <summary>The inverse of <see cref="Values()"/> (rollup files).</summary>
    public static RollupTotals From(long[] values)
    {
        var totals = new RollupTotals();
        for (var i = 0; i < Math.Min(values.Length, Metrics.Length); i++)
        {
            totals.Set(Metrics[i], values[i]);
        }

        return totals;
    }
}

/// <summary>A usage question: a day range, optional filters, and the dimensions to group by.</summary>
internal sealed record UsageQuery(DateOnly From, DateOnly To, string? Key, string? Model, string? Provider, IReadOnlyList<string> GroupBy)
{
    public static readonly string[] Dimensions = ["day", "hour", "key", "team", "model", "provider"];

    /// <summary>Only this team's usage (admin view).</summary>
    public string? Team { get; init; }

    /// <summary>How many days (the last ones, today included) hourly rollups cover.</summary>
    public const int HourlyDays = 3;

    /// <summary>Grouped by hour: the hourly rollups are read.</summary>
    public bool Hourly => GroupBy.Contains("hour");

    public bool Matches(RollupKey k) =>
        (Key is null || k.Key == Key) && (Model is null || k.Model == Model) && (Provider is null || k.Provider == Provider) &&
        (Team is null || k.Team == Team);

    /// <summary>The periods to read: every day of the range, or every hour of it when <see cref="Hourly"/>.</summary>
    public IEnumerable<string> Days()
    {
        for (var d = From; d <= To; d = d.AddDays(1))
        {
            var day = d.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture);
            if (!Hourly)
            {
                yield return day;
                continue;
            }

            for (var h = 0; h < 24; h++)
            {
                yield return $"{day}T{h:00}";
            }
        }
    }

    /// <summary>Sums the cells that match into one row per group.</summary>
    public List<(Dictionary<string, string> Group, RollupTotals Totals)> Aggregate(IEnumerable<(RollupKey Key, RollupTotals Totals)> cells)
    {
        var aggregate = new UsageAggregate(this, int.MaxValue);
        foreach (var (key, totals) in cells)
        {
            aggregate.Add(key, totals);
        }

        return aggregate.Rows();
    }
}

/// <summary>
/// The rows of a <see cref="UsageQuery"/>, summed as the store hands cells over. Bounded: past <c>maxRows</c> groups the
/// answer is refused (<see cref="Overflowed"/>) rather than grown, so no range or grouping can take a replica's memory.
/// </summary>
internal sealed class UsageAggregate(UsageQuery query, int maxRows)
{
    private readonly Dictionary<string, (Dictionary<string, string> Group, RollupTotals Totals)> _rows = new(StringComparer.Ordinal);

    public bool Overflowed { get; private set; }

    public void Add(RollupKey key, RollupTotals totals)
    {
        if (Overflowed || !query.Matches(key))
        {
            return;
        }

        var id = string.Join('\u001f', query.GroupBy.Select(d => Dimension(key, d)));
        if (!_rows.TryGetValue(id, out var row))
        {
            if (_rows.Count >= maxRows)
            {
                Overflowed = true;
                _rows.Clear();
                return;
            }

            _rows[id] = row = (query.GroupBy.ToDictionary(d => d, d => Dimension(key, d)), new RollupTotals());
        }

        row.Totals.Add(totals);
    }

    public List<(Dictionary<string, string> Group, RollupTotals Totals)> Rows() =>
        _rows.OrderBy(r => r.Key, StringComparer.Ordinal).Select(r => r.Value).ToList();

    private static string Dimension(RollupKey key, string dimension) => dimension switch
    {
        "day" => key.Day[..10],
        "hour" => key.Day,
        "key" => key.Key,
        "team" => key.Team,
        "model" => key.Model,
        _ => key.Provider,
    };
}
