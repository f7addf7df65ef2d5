using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Gateway.Configuration;

namespace Gateway.Keys;

/// <summary>
/// The body of <c>POST /admin/keys</c> and <c>PATCH /admin/keys/{name}</c> (and of the same calls under
/// <c>/admin/teams</c>, which take only name, limits, budget and metadata), read strictly: an unknown field, a wrong
/// type or an out-of-range value is a 400 that names it. A field absent from a PATCH leaves the value as it is;
/// <c>null</c> clears it.
/// </summary>
internal sealed partial class KeyRequest
{
    private const int MaxMetadataEntries = 20;
    private const int MaxMetadataLength = 256;

    public string? Name { get; private set; }
    public bool HasModels { get; private set; }
    public List<string>? Models { get; private set; }
    public bool HasLimits { get; private set; }
    public KeyLimitOptions? Limits { get; private set; }
    public bool HasBudget { get; private set; }
    public (decimal Usd, string Period)? Budget { get; private set; }
    public bool HasExpiresAt { get; private set; }
    public DateTimeOffset? ExpiresAt { get; private set; }
    public bool HasTeam { get; private set; }
    public string? Team { get; private set; }
    public bool HasMetadata { get; private set; }
    public Dictionary<string, string>? Metadata { get; private set; }

    /// <summary>The fields the request sets, for the audit trail.</summary>
    public List<string> Fields { get; } = [];

    public static bool IsValidName(string name) => NamePattern().IsMatch(name);

    private bool _forTeam;

    public static KeyRequest Read(JsonElement body, bool creating, out string? error, bool forTeam = false)
    {
        var request = new KeyRequest { _forTeam = forTeam };
        error = body.ValueKind != JsonValueKind.Object ? "The body must be a JSON object." : null;
        if (error is not null)
        {
            return request;
        }

        foreach (var field in body.EnumerateObject())
        {
            error = request.ReadField(field, creating);
            if (error is not null)
            {
                return request;
            }

            request.Fields.Add(field.Name);
        }

        if (creating && request.Name is null)
        {
            error = "'name' is required.";
        }

        return request;
    }

    private string? ReadField(JsonProperty field, bool creating)
    {
        var value = field.Value;
        switch (field.Name)
        {
            case "name" when creating:
                Name = value.ValueKind == JsonValueKind.String ? value.GetString() : null;
                return Name is not null && IsValidName(Name) ? null : "'name' must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit.";
            case "name" when _forTeam:
                return "Unknown field 'name' (a team's name cannot change).";
            case "models" or "expires_at" or "team" when _forTeam:
                return $"Unknown field '{field.Name}' (a team takes name, limits, budget and metadata; models and expiry are set on its keys).";
            case "models":
                HasModels = true;
                if (value.ValueKind == JsonValueKind.Array && value.EnumerateArray().All(m => m.ValueKind == JsonValueKind.String))
                {
                    Models = [.. value.EnumerateArray().Select(m => m.GetString()!)];
                    return Models.Count > 0 ? null : "'models' must name at least one model, or \"*\" for all.";
                }

                return "'models' must be an array of model names (\"*\" for all).";
            case "limits":
                HasLimits = true;
                return ReadLimits(value);
            case "budget":
                HasBudget = true;
                return ReadBudget(value);
            case "expires_at":
                HasExpiresAt = true;
                if (value.ValueKind == JsonValueKind.Null)
                {
                    return null;
                }

                if (value.ValueKind == JsonValueKind.String && DateTimeOffset.TryParse(value.GetString(), CultureInfo.InvariantCulture,
                    DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var at))
                {
                    ExpiresAt = at;
                    return null;
                }

                return "'expires_at' must be an ISO 8601 time (e.g. 2027-01-31T00:00:00Z) or null.";
            case "team":
                HasTeam = true;
                Team = value.ValueKind == JsonValueKind.String ? value.GetString() : null;
                return value.ValueKind == JsonValueKind.Null || (Team is not null && IsValidName(Team))
                    ? null
                    : "'team' must be a name (1 to 64 letters, digits, '.', '_' or '-') or null.";
            case "metadata":
                HasMetadata = true;
                return ReadMetadata(value);
            default:
                return $"Unknown field '{field.Name}'" + (field.Name == "name" ? " (a key's name cannot change)." : ".");
        }
    }

    private string? ReadLimits(JsonElement value)
    {
        if (value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (value.ValueKind != JsonValueKind.Object)
        {
            return "'limits' must be an object.";
        }

        var limits = new KeyLimitOptions();
        foreach (var field in value.EnumerateObject())
        {
            if (field.Name == "models")
            {
                if (field.Value.ValueKind != JsonValueKind.Object)
                {
                    return "'limits.models' must be an object of model names.";
                }

                foreach (var model in field.Value.EnumerateObject())
                {
                    var perModel = new ModelLimitOptions();
                    if (model.Value.ValueKind != JsonValueKind.Object)
                    {
                        return $"'limits.models.{model.Name}' must be an object.";
                    }

                    foreach (var f in model.Value.EnumerateObject())
                    {
                        if (ReadRate(perModel, f, $"limits.models.{model.Name}") is { } error)
                        {
                            return error;
                        }
                    }

                    limits.Models[model.Name] = perModel;
                }
            }
            else if (ReadRate(limits, field, "limits") is { } error)
            {
                return error;
            }
        }

        Limits = limits;
        return null;
    }

    private static string? ReadRate(ModelLimitOptions limits, JsonProperty field, string at)
    {
        if (field.Value.ValueKind != JsonValueKind.Number || !field.Value.TryGetInt64(out var n) || n < 0)
        {
            return field.Name is "requests_per_minute" or "tokens_per_minute" or "concurrent_requests"
                ? $"'{at}.{field.Name}' must be a whole number, 0 or more."
                : $"Unknown field '{at}.{field.Name}'.";
        }

        switch (field.Name)
        {
            case "requests_per_minute": limits.RequestsPerMinute = n; return null;
            case "tokens_per_minute": limits.TokensPerMinute = n; return null;
            case "concurrent_requests": limits.ConcurrentRequests = n; return null;
            default: return $"Unknown field '{at}.{field.Name}'.";
        }
    }

    private string? ReadBudget(JsonElement value)
    {
        if (value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (value.ValueKind != JsonValueKind.Object || !value.TryGetProperty("usd", out var usd) || usd.ValueKind != JsonValueKind.Number ||
            !usd.TryGetDecimal(out var amount) || amount < 0 || amount > 1_000_000_000)
        {
            return "'budget' must be {\"usd\": <amount>, \"period\": \"day\" or \"month\"} or null.";
        }

        var period = value.TryGetProperty("period", out var p) ? p.GetString() : "month";
        if (period is not ("day" or "month") || value.EnumerateObject().Any(f => f.Name is not ("usd" or "period")))
        {
            return "'budget' must be {\"usd\": <amount>, \"period\": \"day\" or \"month\"} or null.";
        }

        Budget = (amount, period);
        return null;
    }

    private string? ReadMetadata(JsonElement value)
    {
        if (value.ValueKind == JsonValueKind.Null)
        {
            Metadata = [];
            return null;
        }

        if (value.ValueKind != JsonValueKind.Object)
        {
            return "'metadata' must be an object of strings.";
        }

        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var field in value.EnumerateObject())
        {
            if (field.Value.ValueKind != JsonValueKind.String || field.Name.Length > MaxMetadataLength || field.Value.GetString()!.Length > MaxMetadataLength)
            {
                return $"'metadata.{field.Name}' must be a string of at most {MaxMetadataLength} characters.";
            }

            metadata[field.Name] = field.Value.GetString()!;
        }

        if (metadata.Count > MaxMetadataEntries)
        {
            return $"'metadata' may hold at most {MaxMetadataEntries} entries.";
        }

        Metadata = metadata;
        return null;
    }

    /// <summary>
    /// What a PATCH leaves: the rates and the budget it sets, each over the stored one it does not mention (a budget is
    /// kept inside the stored limits, as in gateway.json).
    /// </summary>
    public KeyLimitOptions? LimitsOver(KeyLimitOptions? current)
    {
        var rates = HasLimits ? Limits : current;
        var budget = HasBudget ? Budget : current?.BudgetUsd is { } usd ? (usd, current.BudgetPeriod ?? "month") : null;
        return Merge(rates, budget);
    }

    /// <summary>The limits to store: the request's own, with its budget folded in (budgets are limits, as in gateway.json).</summary>
    public static KeyLimitOptions? Merge(KeyLimitOptions? limits, (decimal Usd, string Period)? budget)
    {
        if (limits is null && budget is null)
        {
            return null;
        }

        var merged = new KeyLimitOptions
        {
            RequestsPerMinute = limits?.RequestsPerMinute, TokensPerMinute = limits?.TokensPerMinute, ConcurrentRequests = limits?.ConcurrentRequests,
            Models = limits?.Models ?? new(StringComparer.OrdinalIgnoreCase),
            BudgetUsd = budget?.Usd, BudgetPeriod = budget?.Period,
        };
        return merged;
    }

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
    private static partial Regex NamePattern();
}
