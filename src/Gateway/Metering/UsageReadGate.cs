using System.Collections.Concurrent;
using Gateway.Configuration;

namespace Gateway.Metering;

/// <summary>
/// Keeps usage reads (range reads of rollups, the heaviest thing a key can ask for) from crowding out what matters more:
/// at most <see cref="ReadsPerReplica"/> run at once on a replica (others wait a little, then are refused), so their Redis
/// replies never queue in front of admissions in numbers; and a key that is not an admin reads one range at a time, so one
/// key cannot take the replica's reads from everyone else.
/// </summary>
internal sealed class UsageReadGate
{
    public const int ReadsPerReplica = 2;
    private static readonly TimeSpan MaxWait = TimeSpan.FromSeconds(10);

    private readonly SemaphoreSlim _replica = new(ReadsPerReplica, ReadsPerReplica);
    private readonly ConcurrentDictionary<string, byte> _keysReading = new(StringComparer.Ordinal);

    /// <summary>A lease to dispose when the read is done, or null when the read is refused (the key's other read, or a busy replica).</summary>
    public async Task<IDisposable?> EnterAsync(ClientKey key, CancellationToken cancellationToken)
    {
        var perKey = !key.IsAdmin;
        if (perKey && !_keysReading.TryAdd(key.Id, 0))
        {
            return null;
        }

        var entered = false;
        try
        {
            entered = await _replica.WaitAsync(MaxWait, cancellationToken);
        }
        finally
        {
            if (!entered && perKey)
            {
                _keysReading.TryRemove(key.Id, out _);
            }
        }

        return entered ? new Lease(this, perKey ? key.Id : null) : null;
    }

    private sealed class Lease(UsageReadGate gate, string? keyId) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 1)
            {
                return;
            }

            gate._replica.Release();
            if (keyId is not null)
            {
                gate._keysReading.TryRemove(keyId, out _);
            }
        }
    }
}
