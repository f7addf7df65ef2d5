namespace Gateway.Keys;

/// <summary>Where runtime keys live: Redis for a fleet, the data directory for one process (the embedded default).</summary>
internal interface IKeyStore
{
    Task<IReadOnlyList<RuntimeKeyRecord>> ListAsync(CancellationToken cancellationToken);

    Task<RuntimeKeyRecord?> GetAsync(string name, CancellationToken cancellationToken);

    /// <summary>
    /// Saves <paramref name="record"/> if the stored one is still at <paramref name="expectedRevision"/> (0: none may
    /// exist yet, by name or by prefix), records the audit entry, and announces the change; false when it lost the race.
    /// </summary>
    Task<bool> SaveAsync(RuntimeKeyRecord record, long expectedRevision, KeyAuditEntry audit, CancellationToken cancellationToken);

    Task<IReadOnlyList<RuntimeTeamRecord>> ListTeamsAsync(CancellationToken cancellationToken);

    Task<RuntimeTeamRecord?> GetTeamAsync(string name, CancellationToken cancellationToken);

    /// <summary>
    /// Saves <paramref name="team"/> (or, with <paramref name="delete"/>, removes it) if the stored one is still at
    /// <paramref name="expectedRevision"/> (0: none may exist yet), records the audit entry, and announces the change.
    /// </summary>
    Task<bool> SaveTeamAsync(RuntimeTeamRecord team, long expectedRevision, bool delete, KeyAuditEntry audit, CancellationToken cancellationToken);

    Task<IReadOnlyList<KeyAuditEntry>> AuditAsync(int take, CancellationToken cancellationToken);

    /// <summary>How many changes the store has seen: a replica that applied fewer reloads.</summary>
    Task<long> VersionAsync(CancellationToken cancellationToken);

    /// <summary>Raised for every change, this replica's own and (through Redis) other replicas'.</summary>
    event Action<KeyChange>? Changed;

    /// <summary>Starts hearing other replicas' changes (a no-op without Redis).</summary>
    Task ListenAsync();
}
