using System.Security.Cryptography;
using System.Text.Json;
using Gateway.Auth;
using Gateway.Configuration;
using Gateway.Errors;
using Gateway.RateLimiting;

namespace Gateway.Keys;

/// <summary>
/// <c>/admin/teams</c>: create, list, show, update and delete teams, under an admin key. A team has its own limits and
/// budget; a key joins one through its <c>team</c> field (<c>/admin/keys</c>), and each of its requests is then admitted
/// only when the key's counters and the team's both admit, in one atomic step (<see cref="LimitPlan"/>). Every change is
/// audited, in force on this replica before the answer, and on every replica within a second.
/// </summary>
internal sealed partial class TeamAdminEndpoints(IKeyStore store, RuntimeKeys runtime, ConfigStore config, ILimitEngine limits, TimeProvider clock,
    ILogger<TeamAdminEndpoints> logger)
{
    public static void Map(WebApplication app)
    {
        var endpoints = app.Services.GetRequiredService<TeamAdminEndpoints>();
        var teams = app.MapGroup("/admin/teams").RequireAdmin("or change teams");
        teams.MapPost("", endpoints.CreateAsync);
        teams.MapGet("", endpoints.ListAsync);
        teams.MapGet("/{name}", endpoints.ShowAsync);
        teams.MapPatch("/{name}", endpoints.UpdateAsync);
        teams.MapDelete("/{name}", endpoints.DeleteAsync);
    }

    private async Task CreateAsync(HttpContext context)
    {
        if (await ReadAsync(context, creating: true) is not { } request)
        {
            return;
        }

        var now = clock.GetUtcNow();
        var team = new RuntimeTeamRecord
        {
            Id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(10)),
            Name = request.Name!,
            Limits = KeyRequest.Merge(request.Limits, request.Budget),
            Metadata = request.Metadata ?? [],
            CreatedAt = now,
            UpdatedAt = now,
            Revision = 1,
        };
        if (await ValidateAsync(context, team) && await SaveAsync(context, team, 0, delete: false, "team.create", request.Fields))
        {
            await WriteTeamsAsync(context, StatusCodes.Status201Created, [team], single: true);
        }
    }

    private async Task ListAsync(HttpContext context)
    {
        var teams = await store.ListTeamsAsync(context.RequestAborted);
        await WriteTeamsAsync(context, StatusCodes.Status200OK, [.. teams.OrderBy(t => t.Name, StringComparer.Ordinal)], single: false);
    }

    private async Task ShowAsync(HttpContext context, string name)
    {
        if (await FindAsync(context, name) is { } team)
        {
            await WriteTeamsAsync(context, StatusCodes.Status200OK, [team], single: true);
        }
    }

    private async Task UpdateAsync(HttpContext context, string name)
    {
        if (await FindAsync(context, name) is not { } current || await ReadAsync(context, creating: false) is not { } request)
        {
            return;
        }

        var team = current with
        {
            Limits = request.LimitsOver(current.Limits),
            Metadata = request.HasMetadata ? request.Metadata! : current.Metadata,
            UpdatedAt = clock.GetUtcNow(),
            Revision = current.Revision + 1,
        };
        if (await ValidateAsync(context, team) && await SaveAsync(context, team, current.Revision, delete: false, "team.update", request.Fields))
        {
            await WriteTeamsAsync(context, StatusCodes.Status200OK, [team], single: true);
        }
    }

    /// <summary>
    /// Removes a team no active key is in (move or revoke them first): a key left naming a deleted team would be refused
    /// rather than admitted past limits that no longer exist.
    /// </summary>
    private async Task DeleteAsync(HttpContext context, string name)
    {
        if (await FindAsync(context, name) is not { } current)
        {
            return;
        }

        var members = (await store.ListAsync(context.RequestAborted)).Where(k => k.Team == name && k.RevokedAt is null).Select(k => k.Name)
            .Order(StringComparer.Ordinal).ToList();
        if (members.Count > 0)
        {
            await ErrorWriter.WriteAsync(context, AdminJson.Conflict(
                $"Team '{name}' still has {members.Count} active key(s) ({string.Join(", ", members.Take(5))}{(members.Count > 5 ? ", ..." : "")}); " +
                "move them to another team (PATCH /admin/keys/{name} with \"team\") or revoke them first."));
            return;
        }

        if (await SaveAsync(context, current, current.Revision, delete: true, "team.delete", ["deleted"]))
        {
            await AdminJson.WriteAsync(context, StatusCodes.Status200OK, w =>
            {
                w.WriteStartObject();
                w.WriteString("object"u8, "team"u8);
                w.WriteString("name"u8, name);
                w.WriteBoolean("deleted"u8, true);
                w.WriteEndObject();
            });
        }
    }

    private async Task<bool> ValidateAsync(HttpContext context, RuntimeTeamRecord team)
    {
        List<string> errors = [];
        RuntimeKeys.CompileTeam(team, config.Current, errors);
        if (errors.Count == 0)
        {
            return true;
        }

        await ErrorWriter.WriteAsync(context, AdminJson.BadRequest(string.Join(" ", errors)));
        return false;
    }

    private async Task<bool> SaveAsync(HttpContext context, RuntimeTeamRecord team, long expectedRevision, bool delete, string action,
        IReadOnlyList<string> changed)
    {
        var audit = new KeyAuditEntry(clock.GetUtcNow(), context.Key().Name, context.Connection.RemoteIpAddress?.ToString() ?? "-", action,
            team.Name, changed);
        if (!await store.SaveTeamAsync(team, expectedRevision, delete, audit, context.RequestAborted))
        {
            await ErrorWriter.WriteAsync(context, AdminJson.Conflict(expectedRevision == 0
                ? $"A team named '{team.Name}' exists already."
                : $"Team '{team.Name}' was changed meanwhile; read it again and retry."));
            return false;
        }

        if (delete)
        {
            runtime.RemoveTeam(team.Name);
        }
        else
        {
            runtime.Apply(team);
        }

        Log.Changed(logger, audit.Admin, action, team.Name);
        return true;
    }

    private async Task<RuntimeTeamRecord?> FindAsync(HttpContext context, string name)
    {
        var team = KeyRequest.IsValidName(name) ? await store.GetTeamAsync(name, context.RequestAborted) : null;
        if (team is null)
        {
            await ErrorWriter.WriteAsync(context, new GatewayError(404, "invalid_request_error", $"No team is named '{name}'.", Code: "team_not_found"));
        }

        return team;
    }

    private static async Task<KeyRequest?> ReadAsync(HttpContext context, bool creating)
    {
        string? error = "The body must be a JSON object.";
        var body = await AdminJson.ReadAsync(context);
        var request = body is { } b ? KeyRequest.Read(b, creating, out error, forTeam: true) : null;
        if (request is null || error is not null)
        {
            await ErrorWriter.WriteAsync(context, AdminJson.BadRequest(error!));
            return null;
        }

        return request;
    }

    /// <summary>
    /// The teams with their keys and their counters as they stand (the team's own windows, in-flight requests and budget
    /// spent this period). The counters are read all at once; if the limits store cannot answer, they are null.
    /// </summary>
    private async Task WriteTeamsAsync(HttpContext context, int status, IReadOnlyList<RuntimeTeamRecord> teams, bool single)
    {
        var snapshot = config.Current;
        var plans = teams.Select(t => LimitPlan.Build("team-view", "", KeyLimits.None with { Team = RuntimeKeys.CompileTeam(t, snapshot, []) }, "", 0, 0,
            snapshot.Limiter, TimeSpan.FromMinutes(1))).ToList();
        LimitUsage[]? usage = null;
        try
        {
            usage = await Task.WhenAll(plans.Select(p => p.IsEmpty ? Task.FromResult(LimitUsage.None) : limits.PeekAsync(p)))
                .WaitAsync(TimeSpan.FromSeconds(5), context.RequestAborted);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !context.RequestAborted.IsCancellationRequested)
        {
            Log.PeekFailed(logger, ex.GetType().Name);
        }

        var members = runtime.Records.Where(k => k.Team is not null && k.RevokedAt is null).ToLookup(k => k.Team!, k => k.Name, StringComparer.Ordinal);
        await AdminJson.WriteAsync(context, status, w =>
        {
            if (!single)
            {
                w.WriteStartObject();
                w.WriteString("object"u8, "list"u8);
                w.WriteStartArray("data"u8);
            }

            for (var i = 0; i < teams.Count; i++)
            {
                WriteTeam(w, teams[i], [.. members[teams[i].Name].Order(StringComparer.Ordinal)], plans[i], usage?[i]);
            }

            if (!single)
            {
                w.WriteEndArray();
                w.WriteEndObject();
            }
        });
    }

    private static void WriteTeam(Utf8JsonWriter w, RuntimeTeamRecord team, List<string> keys, LimitPlan plan, LimitUsage? usage)
    {
        w.WriteStartObject();
        w.WriteString("object"u8, "team"u8);
        w.WriteString("name"u8, team.Name);
        AdminJson.WriteLimits(w, team.Limits);
        AdminJson.WriteMetadata(w, team.Metadata);
        w.WriteStartArray("keys"u8);
        foreach (var key in keys)
        {
            w.WriteStringValue(key);
        }

        w.WriteEndArray();
        if (usage is null)
        {
            w.WriteNull("counters"u8);
        }
        else
        {
            w.WriteStartArray("counters"u8);
            for (var i = 0; i < plan.Windows.Count; i++)
            {
                WriteCounter(w, plan.Windows[i].Kind == LimitKind.Tokens ? "tokens_per_window" : "requests_per_window", plan.Windows[i].Limit, usage.WindowsUsed[i]);
            }

            for (var j = 0; j < plan.Concurrency.Count; j++)
            {
                WriteCounter(w, "concurrent_requests", plan.Concurrency[j].Limit, usage.InFlight[j]);
            }

            for (var b = 0; b < plan.Budgets.Count; b++)
            {
                var budget = plan.Budgets[b];
                WriteCounter(w, budget.Period == BudgetPeriod.Day ? "budget_micros_per_day" : "budget_micros_per_month", budget.LimitMicros,
                    usage.BudgetsSpentMicros[b]);
            }

            w.WriteEndArray();
        }

        AdminJson.WriteTime(w, "created_at"u8, team.CreatedAt);
        AdminJson.WriteTime(w, "updated_at"u8, team.UpdatedAt);
        w.WriteEndObject();
    }

    private static void WriteCounter(Utf8JsonWriter w, string kind, long limit, long used)
    {
        w.WriteStartObject();
        w.WriteString("kind"u8, kind);
        w.WriteNumber("limit"u8, limit);
        w.WriteNumber("used"u8, used);
        w.WriteNumber("remaining"u8, Math.Max(0, limit - used));
        w.WriteEndObject();
    }

    private static partial class Log
    {
        [LoggerMessage(143, LogLevel.Information, "Admin key {Admin}: {Action} {Name}")]
        public static partial void Changed(ILogger logger, string admin, string action, string name);

        [LoggerMessage(144, LogLevel.Warning, "A team's counters could not be read ({Reason}); the answer has them as null")]
        public static partial void PeekFailed(ILogger logger, string reason);
    }
}
