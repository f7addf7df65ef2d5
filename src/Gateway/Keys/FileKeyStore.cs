using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace Gateway.Keys;

/// <summary>
/// Runtime keys without Redis: one file in the data directory (<c>keys.json</c>), and the teams in another
/// (<c>teams.json</c>), each rewritten whole on every change through a temporary file and an atomic rename (a crash
/// leaves the old file or the new one, never half of one), and the audit trail beside them (<c>keys-audit.jsonl</c>,
/// appended). One process owns the directory.
/// </summary>
internal sealed class FileKeyStore : IKeyStore
{
    private readonly string _file;
    private readonly string _teamsFile;
    private readonly string _auditFile;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private Dictionary<string, RuntimeKeyRecord> _records;
    private Dictionary<string, RuntimeTeamRecord> _teams;
    private long _version;

    public FileKeyStore(string directory)
    {
        Directory.CreateDirectory(directory);
        _file = Path.Combine(directory, "keys.json");
        _teamsFile = Path.Combine(directory, "teams.json");
        _auditFile = Path.Combine(directory, "keys-audit.jsonl");
        _records = Load(_file, KeyJson.Default.ListRuntimeKeyRecord).ToDictionary(r => r.Name, StringComparer.Ordinal);
        _teams = Load(_teamsFile, KeyJson.Default.ListRuntimeTeamRecord).ToDictionary(t => t.Name, StringComparer.Ordinal);
        _version = _records.Values.Sum(r => r.Revision) + _teams.Values.Sum(t => t.Revision);
    }

    public event Action<KeyChange>? Changed;

    public Task ListenAsync() => Task.CompletedTask;

    public Task<IReadOnlyList<RuntimeKeyRecord>> ListAsync(CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<RuntimeKeyRecord>>([.. Volatile.Read(ref _records).Values]);

    public Task<RuntimeKeyRecord?> GetAsync(string name, CancellationToken cancellationToken) =>
        Task.FromResult(Volatile.Read(ref _records).GetValueOrDefault(name));

    public Task<IReadOnlyList<RuntimeTeamRecord>> ListTeamsAsync(CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<RuntimeTeamRecord>>([.. Volatile.Read(ref _teams).Values]);

    public Task<RuntimeTeamRecord?> GetTeamAsync(string name, CancellationToken cancellationToken) =>
        Task.FromResult(Volatile.Read(ref _teams).GetValueOrDefault(name));

    public Task<long> VersionAsync(CancellationToken cancellationToken) => Task.FromResult(Interlocked.Read(ref _version));

    public async Task<bool> SaveAsync(RuntimeKeyRecord record, long expectedRevision, KeyAuditEntry audit, CancellationToken cancellationToken)
    {
        long version;
        await _gate.WaitAsync(cancellationToken);
        try
        {
            var current = _records.GetValueOrDefault(record.Name);
            if ((current?.Revision ?? 0) != expectedRevision ||
                (expectedRevision == 0 && _records.Values.Any(r => r.Prefix == record.Prefix)))
            {
                return false;
            }

            var next = new Dictionary<string, RuntimeKeyRecord>(_records, StringComparer.Ordinal) { [record.Name] = record };
            await RewriteAsync(_file, next.Values.OrderBy(r => r.Name, StringComparer.Ordinal).ToList(), KeyJson.Default.ListRuntimeKeyRecord, cancellationToken);
            await AppendAuditAsync(audit, cancellationToken);
            Volatile.Write(ref _records, next);
            version = Interlocked.Increment(ref _version);
        }
        finally
        {
            _gate.Release();
        }

        Changed?.Invoke(new KeyChange(version, record.Name));
        return true;
    }

    public async Task<bool> SaveTeamAsync(RuntimeTeamRecord team, long expectedRevision, bool delete, KeyAuditEntry audit, CancellationToken cancellationToken)
    {
        long version;
        await _gate.WaitAsync(cancellationToken);
        try
        {
            if ((_teams.GetValueOrDefault(team.Name)?.Revision ?? 0) != expectedRevision)
            {
                return false;
            }

            var next = new Dictionary<string, RuntimeTeamRecord>(_teams, StringComparer.Ordinal);
            if (delete)
            {
                next.Remove(team.Name);
            }
            else
            {
                next[team.Name] = team;
            }

            await RewriteAsync(_teamsFile, next.Values.OrderBy(t => t.Name, StringComparer.Ordinal).ToList(), KeyJson.Default.ListRuntimeTeamRecord,
                cancellationToken);
            await AppendAuditAsync(audit, cancellationToken);
            Volatile.Write(ref _teams, next);
            version = Interlocked.Increment(ref _version);
        }
        finally
        {
            _gate.Release();
        }

        Changed?.Invoke(new KeyChange(version, KeyChange.OfTeam(team.Name)));
        return true;
    }

    public async Task<IReadOnlyList<KeyAuditEntry>> AuditAsync(int take, CancellationToken cancellationToken)
    {
        if (!File.Exists(_auditFile))
        {
            return [];
        }

        var lines = await File.ReadAllLinesAsync(_auditFile, cancellationToken);
        return [.. lines.Reverse().Take(take).Select(l => JsonSerializer.Deserialize(l, KeyJson.Default.KeyAuditEntry)!)];
    }

    /// <summary>
    /// A file that cannot be read stops the start with what to do: starting without it would refuse every key in it, and
    /// the next change would overwrite it.
    /// </summary>
    private static List<T> Load<T>(string file, JsonTypeInfo<List<T>> type)
    {
        try
        {
            return File.Exists(file) ? JsonSerializer.Deserialize(File.ReadAllBytes(file), type) ?? [] : [];
        }
        catch (JsonException ex)
        {
            throw new Configuration.GatewayConfigurationException([
                $"{Path.GetFullPath(file)} cannot be read ({ex.Message}). Restore it from a backup (or fix it by hand), then start " +
                "again; the gateway does not start without it, so that no key change overwrites the keys in it.",
            ]);
        }
    }

    private static async Task RewriteAsync<T>(string file, List<T> items, JsonTypeInfo<List<T>> type, CancellationToken cancellationToken)
    {
        var temporary = file + ".tmp";
        await using (var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None, 4096, FileOptions.WriteThrough))
        {
            await JsonSerializer.SerializeAsync(stream, items, type, cancellationToken);
        }

        File.Move(temporary, file, overwrite: true);
    }

    private Task AppendAuditAsync(KeyAuditEntry audit, CancellationToken cancellationToken) =>
        File.AppendAllTextAsync(_auditFile, JsonSerializer.Serialize(audit, KeyJson.Default.KeyAuditEntry) + "\n", cancellationToken);
}
