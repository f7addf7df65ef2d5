using System.Text.Json;

namespace Gateway.Keys;

/// <summary>
/// Runtime keys without Redis: one file in the data directory (<c>keys.json</c>), rewritten whole on every change
/// through a temporary file and an atomic rename (a crash leaves the old file or the new one, never half of one), and
/// the audit trail beside it (<c>keys-audit.jsonl</c>, appended). One process owns the directory.
/// </summary>
internal sealed class FileKeyStore : IKeyStore
{
    private readonly string _file;
    private readonly string _auditFile;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private Dictionary<string, RuntimeKeyRecord> _records;
    private long _version;

    public FileKeyStore(string directory)
    {
        Directory.CreateDirectory(directory);
        _file = Path.Combine(directory, "keys.json");
        _auditFile = Path.Combine(directory, "keys-audit.jsonl");
        var stored = File.Exists(_file) ? JsonSerializer.Deserialize(File.ReadAllBytes(_file), KeyJson.Default.ListRuntimeKeyRecord) ?? [] : [];
        _records = stored.ToDictionary(r => r.Name, StringComparer.Ordinal);
        _version = _records.Values.Sum(r => r.Revision);
    }

    public event Action<KeyChange>? Changed;

    public Task ListenAsync() => Task.CompletedTask;

    public Task<IReadOnlyList<RuntimeKeyRecord>> ListAsync(CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<RuntimeKeyRecord>>([.. Volatile.Read(ref _records).Values]);

    public Task<RuntimeKeyRecord?> GetAsync(string name, CancellationToken cancellationToken) =>
        Task.FromResult(Volatile.Read(ref _records).GetValueOrDefault(name));

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
            var temporary = _file + ".tmp";
            await using (var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None, 4096, FileOptions.WriteThrough))
            {
                await JsonSerializer.SerializeAsync(stream, next.Values.OrderBy(r => r.Name, StringComparer.Ordinal).ToList(),
                    KeyJson.Default.ListRuntimeKeyRecord, cancellationToken);
            }

            File.Move(temporary, _file, overwrite: true);
            await File.AppendAllTextAsync(_auditFile, JsonSerializer.Serialize(audit, KeyJson.Default.KeyAuditEntry) + "\n", cancellationToken);
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

    public async Task<IReadOnlyList<KeyAuditEntry>> AuditAsync(int take, CancellationToken cancellationToken)
    {
        if (!File.Exists(_auditFile))
        {
            return [];
        }

        var lines = await File.ReadAllLinesAsync(_auditFile, cancellationToken);
        return [.. lines.Reverse().Take(take).Select(l => JsonSerializer.Deserialize(l, KeyJson.Default.KeyAuditEntry)!)];
    }
}
