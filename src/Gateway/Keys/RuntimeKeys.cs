using System.Collections.Concurrent;
using Gateway.Configuration;
using Gateway.Errors;

namespace Gateway.Keys;

/// <summary>
/// Every runtime key, in this replica's memory, by the hash of its secret (and of its previous secret while a rotation's
/// grace lasts), and every team by name: authentication never asks Redis, and a made-up key costs one dictionary miss,
/// whatever the flood. Kept current by the store's change announcements (applied within milliseconds), by a look at the
/// store's version every second (a lost announcement costs at most that, then a full reload), and compiled against the
/// configuration and the key's team in force (a reload that changes <c>Limits:Default</c> or the models, or a change to
/// the team, is applied on the key's next use).
/// </summary>
internal sealed partial class RuntimeKeys(IKeyStore store, TimeProvider clock, ILogger<RuntimeKeys> logger)
    : BackgroundService, Auth.IKeyDirectory
{
    private static readonly TimeSpan VersionLook = TimeSpan.FromSeconds(1);

    private readonly ConcurrentDictionary<string, Entry> _byHash = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, RuntimeKeyRecord> _byName = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, RuntimeTeamRecord> _teams = new(StringComparer.Ordinal);
    private readonly Lock _write = new();
    private long _appliedVersion = -1;

    /// <summary>The runtime keys as this replica knows them, by name.</summary>
    public IReadOnlyCollection<RuntimeKeyRecord> Records => [.. _byName.Values];

    public int ActiveCount => _byName.Values.Count(r => r.RevokedAt is null);

    /// <summary>The teams as this replica knows them, by name.</summary>
    public IReadOnlyCollection<RuntimeTeamRecord> TeamRecords => [.. _teams.Values];

    /// <summary>Every runtime key, compiled against <paramref name="snapshot"/> (revoked and expired ones too: they may still hold reservations).</summary>
    public IEnumerable<ClientKey> Keys(GatewaySnapshot snapshot) => _byName.Values.Select(r =>
        _byHash.TryGetValue(r.Hash, out var e) && e.Compiled is { } c && c.Fits(snapshot, TeamOf(r)) ? c.Key : Compile(r, TeamOf(r), snapshot, []));

    /// <summary>The team as a limit (its limits compiled against <paramref name="snapshot"/>), for the team's own view.</summary>
    public static TeamLimits CompileTeam(RuntimeTeamRecord team, GatewaySnapshot snapshot, List<string> errors) =>
        new(team.Id, team.Name, GatewayConfigCompiler.CompileTeamLimits(team.Limits, snapshot, errors));

    /// <summary>When this replica last admitted a request with the key (null: not since it started).</summary>
    public DateTimeOffset? LastUsed(string name)
    {
        if (!_byName.TryGetValue(name, out var record))
        {
            return null;
        }

        var ticks = _byHash.TryGetValue(record.Hash, out var current) ? Interlocked.Read(ref current.LastUsedTicks) : 0;
        if (record.PreviousHash is { } previous && _byHash.TryGetValue(previous, out var before))
        {
            ticks = Math.Max(ticks, Interlocked.Read(ref before.LastUsedTicks));
        }

        return ticks > 0 ? new DateTimeOffset(ticks, TimeSpan.Zero) : null;
    }

    /// <summary>
    /// The runtime key whose secret hashes to <paramref name="hashHex"/>: the key, or the refusal a holder of a revoked,
    /// expired or rotated-out secret gets; (null, null) when no runtime key has that hash.
    /// </summary>
    public (ClientKey? Key, GatewayError? Refusal) Find(ReadOnlySpan<char> hashHex, GatewaySnapshot snapshot)
    {
        if (_byHash.IsEmpty || !_byHash.GetAlternateLookup<ReadOnlySpan<char>>().TryGetValue(hashHex, out var entry))
        {
            return (null, null);
        }

        var record = entry.Record;
        var now = clock.GetUtcNow();
        if (record.RevokedAt is not null)
        {
            return (null, GatewayError.KeyRevoked());
        }

        if (record.ExpiresAt is { } expires && expires <= now)
        {
            return (null, GatewayError.KeyExpired(expires));
        }

        if (entry.Previous && (record.PreviousValidUntil is not { } until || until <= now))
        {
            return (null, GatewayError.KeyRotated());
        }

        RuntimeTeamRecord? team = null;
        if (record.Team is { } teamName && !_teams.TryGetValue(teamName, out team))
        {
            return (null, GatewayError.TeamUnknown(teamName));
        }

        var compiled = entry.Compiled;
        if (compiled is null || !compiled.Fits(snapshot, team))
        {
            compiled = new Compiled(Compile(record, team, snapshot, []), snapshot, team);
            entry.Compiled = compiled;
        }

        Interlocked.Exchange(ref entry.LastUsedTicks, now.UtcTicks);
        return (compiled.Key, null);
    }

    /// <summary>The key a record gives, in <paramref name="team"/>, compiled against <paramref name="snapshot"/>; problems go to <paramref name="errors"/>.</summary>
    public static ClientKey Compile(RuntimeKeyRecord record, RuntimeTeamRecord? team, GatewaySnapshot snapshot, List<string> errors) =>
        new(record.Name, Convert.FromHexString(record.Hash), record.Models.ToHashSet(StringComparer.OrdinalIgnoreCase))
        {
            Id = record.Id,
            Limits = GatewayConfigCompiler.CompileRuntimeKeyLimits(record.Limits, snapshot, errors) with
            {
                Team = team is null ? null : CompileTeam(team, snapshot, errors),
            },
        };

    private RuntimeTeamRecord? TeamOf(RuntimeKeyRecord record) => record.Team is { } name ? _teams.GetValueOrDefault(name) : null;

    /// <summary>Applies a team this replica has just saved, or heard of; its keys take it on their next use.</summary>
    public void Apply(RuntimeTeamRecord team)
    {
        lock (_write)
        {
            if (_teams.TryGetValue(team.Name, out var old) && old.Revision > team.Revision && old.Id == team.Id)
            {
                return;
            }

            _teams[team.Name] = team;
        }
    }

    /// <summary>Forgets a deleted team: a key still naming it is refused (<see cref="GatewayError.TeamUnknown"/>).</summary>
    public void RemoveTeam(string name)
    {
        lock (_write)
        {
            _teams.TryRemove(name, out _);
        }
    }

    /// <summary>Applies a record this replica has just saved (its own change is in force here before the answer goes out).</summary>
    public void Apply(RuntimeKeyRecord record)
    {
        lock (_write)
        {
            var lastUsed = 0L;
            string? staleHash = null, stalePrevious = null;
            if (_byName.TryGetValue(record.Name, out var old))
            {
                if (old.Revision > record.Revision)
                {
                    return;
                }

                // A change is not a use: the key's last use carries over.
                if (_byHash.TryGetValue(old.Hash, out var current))
                {
                    lastUsed = Interlocked.Read(ref current.LastUsedTicks);
                }

                if (old.PreviousHash is { } previous && _byHash.TryGetValue(previous, out var before))
                {
                    lastUsed = Math.Max(lastUsed, Interlocked.Read(ref before.LastUsedTicks));
                }

                (staleHash, stalePrevious) = (old.Hash, old.PreviousHash);
            }

            _byName[record.Name] = record;
            // Compiled on first use, not here (Find): a fleet's hundred thousand keys, most of them idle on any one replica,
            // cost only their records (bench/keys.sh). The new entries replace the old ones in place before anything is
            // removed: a rotation turns the current secret into the previous one, and a request presenting it at that moment
            // must find it (as either), never miss it.
            _byHash[record.Hash] = new Entry(record, Previous: false) { LastUsedTicks = lastUsed };
            if (record.PreviousHash is { } hash)
            {
                _byHash[hash] = new Entry(record, Previous: true);
            }

            foreach (var stale in (string?[])[staleHash, stalePrevious])
            {
                if (stale is not null && stale != record.Hash && stale != record.PreviousHash)
                {
                    _byHash.TryRemove(stale, out _);
                }
            }
        }
    }

    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        store.Changed += OnChanged;
        try
        {
            await store.ListenAsync().WaitAsync(TimeSpan.FromSeconds(10), clock, cancellationToken);
            await ReloadAsync(cancellationToken).WaitAsync(TimeSpan.FromSeconds(10), clock, cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // Keys from gateway.json work regardless; runtime keys arrive with the first look that succeeds.
            Log.LoadFailed(logger, ex.GetType().Name);
        }

        await base.StartAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(VersionLook, clock);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                _ = store.ListenAsync();
                if (await store.VersionAsync(stoppingToken) != Interlocked.Read(ref _appliedVersion))
                {
                    await ReloadAsync(stoppingToken);
                }
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                Log.LookFailed(logger, ex.GetType().Name);
            }
        }
    }

    public override void Dispose()
    {
        store.Changed -= OnChanged;
        base.Dispose();
    }

    private async Task ReloadAsync(CancellationToken cancellationToken)
    {
        var version = await store.VersionAsync(cancellationToken);
        var teams = await store.ListTeamsAsync(cancellationToken);
        var records = await store.ListAsync(cancellationToken);
        lock (_write)
        {
            // Teams first: the keys compile against them. A team no longer stored was deleted.
            foreach (var gone in _teams.Keys.Except(teams.Select(t => t.Name), StringComparer.Ordinal).ToList())
            {
                _teams.TryRemove(gone, out _);
            }

            foreach (var team in teams)
            {
                _teams[team.Name] = team;
            }

            foreach (var record in records)
            {
                Apply(record);
            }

            Interlocked.Exchange(ref _appliedVersion, version);
        }
    }

    private void OnChanged(KeyChange change) => _ = ApplyChangeAsync(change);

    private async Task ApplyChangeAsync(KeyChange change)
    {
        try
        {
            if (change.Team is { } teamName)
            {
                if (await store.GetTeamAsync(teamName, CancellationToken.None) is { } team)
                {
                    Apply(team);
                }
                else
                {
                    RemoveTeam(teamName);
                }
            }
            else if (await store.GetAsync(change.Name, CancellationToken.None) is { } record)
            {
                Apply(record);
            }

            // In order: the next version is accounted for. Out of order (an announcement was lost): the next look reloads.
            Interlocked.CompareExchange(ref _appliedVersion, change.Version, change.Version - 1);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            Log.LookFailed(logger, ex.GetType().Name);
        }
    }

    /// <summary>A key compiled against one configuration and one revision of its team (by reference: a change makes a new record).</summary>
    private sealed record Compiled(ClientKey Key, GatewaySnapshot Snapshot, RuntimeTeamRecord? Team)
    {
        public bool Fits(GatewaySnapshot snapshot, RuntimeTeamRecord? team) => ReferenceEquals(Snapshot, snapshot) && ReferenceEquals(Team, team);
    }

    private sealed class Entry(RuntimeKeyRecord record, bool Previous)
    {
        public long LastUsedTicks;

        public RuntimeKeyRecord Record { get; } = record;
        public bool Previous { get; } = Previous;
        public Compiled? Compiled { get; set; }
    }

    private static partial class Log
    {
        [LoggerMessage(140, LogLevel.Warning, "Runtime keys could not be loaded at start ({Reason}); keys from gateway.json work, runtime keys follow once the store answers")]
        public static partial void LoadFailed(ILogger logger, string reason);

        [LoggerMessage(141, LogLevel.Warning, "Runtime keys: the store did not answer ({Reason}); keys stay as last loaded")]
        public static partial void LookFailed(ILogger logger, string reason);
    }
}
