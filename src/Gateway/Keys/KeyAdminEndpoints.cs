using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text.Json;
using Gateway.Auth;
using Gateway.Configuration;
using Gateway.Errors;
using Gateway.Translators.Contract;

namespace Gateway.Keys;

/// <summary>
/// <c>/admin/keys</c>: create, list, show, update, rotate and revoke client keys at runtime, under an admin key. The
/// secret is in the answer to a create or a rotate, once; the store keeps its SHA-256. Every change is audited
/// (<c>GET /admin/audit</c>) and in force on this replica before the answer, on every replica within a second.
/// Keys from <c>gateway.json</c> are listed too, and stay managed there.
/// </summary>
internal sealed partial class KeyAdminEndpoints(IKeyStore store, RuntimeKeys runtime, ConfigStore config, TimeProvider clock,
    ILogger<KeyAdminEndpoints> logger)
{
    private const string SecretStart = "sk-gw-";
    private const int MaxGraceSeconds = 7 * 24 * 3600;

    public static void Map(WebApplication app)
    {
        var endpoints = app.Services.GetRequiredService<KeyAdminEndpoints>();
        var keys = app.MapGroup("/admin/keys").RequireAdmin("or change keys");
        keys.MapPost("", endpoints.CreateAsync);
        keys.MapGet("", endpoints.ListAsync);
        keys.MapGet("/{name}", endpoints.ShowAsync);
        keys.MapPatch("/{name}", endpoints.UpdateAsync);
        keys.MapPost("/{name}/rotate", endpoints.RotateAsync);
        keys.MapDelete("/{name}", endpoints.RevokeAsync);
        app.MapGet("/admin/audit", endpoints.AuditAsync).RequireAdmin("the audit trail");
    }

    private async Task CreateAsync(HttpContext context)
    {
        if (await ReadAsync(context, creating: true) is not { } request)
        {
            return;
        }

        var snapshot = config.Current;
        var name = request.Name!;
        if (name == "bootstrap" || snapshot.KeysByHash.Values.Any(k => k.Name.Equals(name, StringComparison.OrdinalIgnoreCase)))
        {
            await ErrorWriter.WriteAsync(context, AdminJson.Conflict($"A key named '{name}' is configured in gateway.json; choose another name."));
            return;
        }

        var now = clock.GetUtcNow();
        var (secret, prefix) = NewSecret();
        var record = new RuntimeKeyRecord
        {
            Id = "r" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(10)),
            Name = name,
            Prefix = prefix,
            Hash = KeyHasher.HashHex(secret),
            Models = request.Models ?? ["*"],
            Limits = KeyRequest.Merge(request.Limits, request.Budget),
            ExpiresAt = request.ExpiresAt,
            Team = request.Team,
            Metadata = request.Metadata ?? [],
            CreatedAt = now,
            UpdatedAt = now,
            Revision = 1,
        };
        if (await ValidateAsync(context, record, snapshot, creating: true) && await SaveAsync(context, record, 0, "create", request.Fields))
        {
            await AdminJson.WriteAsync(context, StatusCodes.Status201Created, w => WriteKey(w, record, secret));
        }
    }

    private async Task ListAsync(HttpContext context)
    {
        var runtimeKeys = await store.ListAsync(context.RequestAborted);
        var configured = config.Current.KeysByHash.Values.OrderBy(k => k.Name, StringComparer.Ordinal);
        await AdminJson.WriteAsync(context, StatusCodes.Status200OK, w =>
        {
            w.WriteStartObject();
            w.WriteString("object"u8, "list"u8);
            w.WriteStartArray("data"u8);
            foreach (var key in configured)
            {
                w.WriteStartObject();
                w.WriteString("object"u8, "key"u8);
                w.WriteString("name"u8, key.Name);
                w.WriteString("source"u8, "gateway.json"u8);
                w.WriteBoolean("admin"u8, key.IsAdmin);
                w.WriteStartArray("models"u8);
                foreach (var model in key.AllowsAllModels ? (IEnumerable<string>)["*"] : key.Models.Order(StringComparer.Ordinal))
                {
                    w.WriteStringValue(model);
                }

                w.WriteEndArray();
                w.WriteEndObject();
            }

            foreach (var record in runtimeKeys.OrderBy(r => r.Name, StringComparer.Ordinal))
            {
                WriteKey(w, record, secret: null);
            }

            w.WriteEndArray();
            w.WriteEndObject();
        });
    }

    private async Task ShowAsync(HttpContext context, string name)
    {
        if (await FindAsync(context, name) is { } record)
        {
            await AdminJson.WriteAsync(context, StatusCodes.Status200OK, w => WriteKey(w, record, secret: null));
        }
    }

    private async Task UpdateAsync(HttpContext context, string name)
    {
        if (await FindAsync(context, name) is not { } current || await ReadAsync(context, creating: false) is not { } request)
        {
            return;
        }

        var record = current with
        {
            Models = request.HasModels ? request.Models! : current.Models,
            Limits = request.LimitsOver(current.Limits),
            ExpiresAt = request.HasExpiresAt ? request.ExpiresAt : current.ExpiresAt,
            Team = request.HasTeam ? request.Team : current.Team,
            Metadata = request.HasMetadata ? request.Metadata! : current.Metadata,
            UpdatedAt = clock.GetUtcNow(),
            Revision = current.Revision + 1,
        };
        if (await ValidateAsync(context, record, config.Current, creating: false) && await SaveAsync(context, record, current.Revision, "update", request.Fields))
        {
            await AdminJson.WriteAsync(context, StatusCodes.Status200OK, w => WriteKey(w, record, secret: null));
        }
    }

    private async Task RotateAsync(HttpContext context, string name)
    {
        if (await FindAsync(context, name) is not { } current)
        {
            return;
        }

        var grace = 0L;
        if (context.Request.ContentLength is > 0 || context.Request.Headers.TransferEncoding.Count > 0)
        {
            var body = await AdminJson.ReadAsync(context);
            if (body is not { ValueKind: JsonValueKind.Object } b || b.EnumerateObject().Any(f => f.Name != "grace_seconds") ||
                (b.TryGetProperty("grace_seconds", out var g) && (!g.TryGetInt64(out grace) || grace is < 0 or > MaxGraceSeconds)))
            {
                await ErrorWriter.WriteAsync(context, AdminJson.BadRequest($"The body must be {{\"grace_seconds\": 0 to {MaxGraceSeconds}}} (how long the old secret still works)."));
                return;
            }
        }

        if (current.RevokedAt is not null)
        {
            await ErrorWriter.WriteAsync(context, AdminJson.Conflict($"Key '{name}' is revoked; create a new one."));
            return;
        }

        var now = clock.GetUtcNow();
        var (secret, _) = NewSecret(current.Prefix);
        var record = current with
        {
            Hash = KeyHasher.HashHex(secret),
            // The old secret is kept (by hash) even without grace, so its holder is told it was replaced, not that it is unknown.
            PreviousHash = current.Hash,
            PreviousValidUntil = now.AddSeconds(grace),
            UpdatedAt = now,
            Revision = current.Revision + 1,
        };
        if (await SaveAsync(context, record, current.Revision, "rotate", grace > 0 ? ["key", "grace_seconds"] : ["key"]))
        {
            await AdminJson.WriteAsync(context, StatusCodes.Status200OK, w => WriteKey(w, record, secret));
        }
    }

    private async Task RevokeAsync(HttpContext context, string name)
    {
        if (await FindAsync(context, name) is not { } current)
        {
            return;
        }

        if (current.RevokedAt is null)
        {
            var now = clock.GetUtcNow();
            // The previous secret (if any) is kept by hash too: its holder is told the key was revoked.
            current = current with { RevokedAt = now, UpdatedAt = now, Revision = current.Revision + 1 };
            if (!await SaveAsync(context, current, current.Revision - 1, "revoke", ["revoked_at"]))
            {
                return;
            }
        }

        await AdminJson.WriteAsync(context, StatusCodes.Status200OK, w => WriteKey(w, current, secret: null));
    }

    private async Task AuditAsync(HttpContext context)
    {
        var take = int.TryParse(context.Request.Query["limit"], out var n) ? Math.Clamp(n, 1, 1000) : 100;
        var entries = await store.AuditAsync(take, context.RequestAborted);
        await AdminJson.WriteAsync(context, StatusCodes.Status200OK, w =>
        {
            w.WriteStartObject();
            w.WriteString("object"u8, "list"u8);
            w.WriteStartArray("data"u8);
            foreach (var e in entries)
            {
                w.WriteStartObject();
                w.WriteString("at"u8, e.At);
                w.WriteString("admin"u8, e.Admin);
                w.WriteString("from"u8, e.From);
                w.WriteString("action"u8, e.Action);
                // A team's change names the team; a key's, the key.
                w.WriteString(e.IsTeamChange ? "team"u8 : "key"u8, e.Key);
                w.WriteStartArray("changed"u8);
                foreach (var field in e.Changed)
                {
                    w.WriteStringValue(field);
                }

                w.WriteEndArray();
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteEndObject();
        });
    }

    private async Task<bool> ValidateAsync(HttpContext context, RuntimeKeyRecord record, GatewaySnapshot snapshot, bool creating)
    {
        List<string> errors = [];
        foreach (var model in record.Models.Where(m => m != "*" && !snapshot.Models.ContainsKey(m)))
        {
            errors.Add($"'models': '{model}' is not a configured model.");
        }

        RuntimeTeamRecord? team = null;
        if (record.Team is { } teamName && (team = await store.GetTeamAsync(teamName, context.RequestAborted)) is null)
        {
            errors.Add($"'team': no team is named '{teamName}'; create it first (POST /admin/teams).");
        }

        RuntimeKeys.Compile(record, team, snapshot, errors);
        if (creating && record.ExpiresAt is { } expires && expires <= clock.GetUtcNow())
        {
            errors.Add("'expires_at' is in the past.");
        }

        if (errors.Count == 0)
        {
            return true;
        }

        await ErrorWriter.WriteAsync(context, AdminJson.BadRequest(string.Join(" ", errors)));
        return false;
    }

    private async Task<bool> SaveAsync(HttpContext context, RuntimeKeyRecord record, long expectedRevision, string action, IReadOnlyList<string> changed)
    {
        var audit = new KeyAuditEntry(clock.GetUtcNow(), context.Key().Name, context.Connection.RemoteIpAddress?.ToString() ?? "-", action,
            record.Name, changed);
        if (!await store.SaveAsync(record, expectedRevision, audit, context.RequestAborted))
        {
            await ErrorWriter.WriteAsync(context, AdminJson.Conflict(expectedRevision == 0
                ? $"A key named '{record.Name}' exists already."
                : $"Key '{record.Name}' was changed meanwhile; read it again and retry."));
            return false;
        }

        runtime.Apply(record);
        Log.Changed(logger, audit.Admin, action, record.Name, record.Prefix);
        return true;
    }

    private async Task<RuntimeKeyRecord?> FindAsync(HttpContext context, string name)
    {
        var record = KeyRequest.IsValidName(name) ? await store.GetAsync(name, context.RequestAborted) : null;
        if (record is null)
        {
            var configured = config.Current.KeysByHash.Values.Any(k => k.Name == name);
            await ErrorWriter.WriteAsync(context, configured
                ? AdminJson.Conflict($"Key '{name}' is configured in gateway.json; change it there.")
                : new GatewayError(404, "invalid_request_error", $"No runtime key is named '{name}'.", Code: "key_not_found"));
        }

        return record;
    }

    private static async Task<KeyRequest?> ReadAsync(HttpContext context, bool creating)
    {
        string? error = "The body must be a JSON object.";
        var body = await AdminJson.ReadAsync(context);
        var request = body is { } b ? KeyRequest.Read(b, creating, out error) : null;
        if (request is null || error is not null)
        {
            await ErrorWriter.WriteAsync(context, AdminJson.BadRequest(error!));
            return null;
        }

        return request;
    }

    private void WriteKey(Utf8JsonWriter w, RuntimeKeyRecord r, string? secret)
    {
        var now = clock.GetUtcNow();
        w.WriteStartObject();
        w.WriteString("object"u8, "key"u8);
        w.WriteString("name"u8, r.Name);
        w.WriteString("source"u8, "runtime"u8);
        w.WriteString("prefix"u8, r.Prefix);
        if (secret is not null)
        {
            // Shown this once: the store keeps only its hash.
            w.WriteString("key"u8, secret);
        }

        w.WriteString("status"u8, r.RevokedAt is not null ? "revoked" : r.ExpiresAt <= now ? "expired" : "active");
        w.WriteStartArray("models"u8);
        foreach (var model in r.Models)
        {
            w.WriteStringValue(model);
        }

        w.WriteEndArray();
        AdminJson.WriteLimits(w, r.Limits);
        AdminJson.WriteTime(w, "expires_at"u8, r.ExpiresAt);
        if (r.Team is null)
        {
            w.WriteNull("team"u8);
        }
        else
        {
            w.WriteString("team"u8, r.Team);
        }

        AdminJson.WriteMetadata(w, r.Metadata);
        AdminJson.WriteTime(w, "created_at"u8, r.CreatedAt);
        AdminJson.WriteTime(w, "updated_at"u8, r.UpdatedAt);
        AdminJson.WriteTime(w, "revoked_at"u8, r.RevokedAt);
        AdminJson.WriteTime(w, "previous_key_valid_until"u8, r.PreviousValidUntil);
        AdminJson.WriteTime(w, "last_used_at"u8, runtime.LastUsed(r.Name));
        w.WriteEndObject();
    }

    /// <summary>A new secret: a visible prefix (<c>sk-gw-</c> and 10 random characters) and 256 random bits.</summary>
    private static (string Secret, string Prefix) NewSecret(string? prefix = null)
    {
        prefix ??= SecretStart + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(5));
        Span<byte> random = stackalloc byte[32];
        RandomNumberGenerator.Fill(random);
        return (prefix + "_" + Base64Url.EncodeToString(random), prefix);
    }

    private static partial class Log
    {
        [LoggerMessage(142, LogLevel.Information, "Admin key {Admin}: {Action} runtime key {Name} ({Prefix})")]
        public static partial void Changed(ILogger logger, string admin, string action, string name, string prefix);
    }
}
