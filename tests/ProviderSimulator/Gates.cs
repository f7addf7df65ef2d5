using System.Collections.Concurrent;

namespace ProviderSimulator;

/// <summary>
/// Named gates a test holds requests at (knob <c>hold=name</c>) until it opens them (<c>POST /_sim/gates/name/open</c>):
/// a test knows a request has reached the provider (<c>GET /_sim/gates/name</c> counts arrivals) instead of sleeping
/// and hoping. A gate stays open once opened; names are the test's to keep unique.
/// </summary>
public sealed class Gates
{
    private readonly ConcurrentDictionary<string, Gate> _gates = new(StringComparer.Ordinal);

    public Gate For(string name) => _gates.GetOrAdd(name, _ => new Gate());

    public sealed class Gate
    {
        private readonly TaskCompletionSource _open = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _arrived;
        private int _held;

        public int Arrived => Volatile.Read(ref _arrived);
        public int Held => Volatile.Read(ref _held);

        public async Task PassAsync(CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _arrived);
            Interlocked.Increment(ref _held);
            try
            {
                await _open.Task.WaitAsync(cancellationToken);
            }
            finally
            {
                Interlocked.Decrement(ref _held);
            }
        }

        public void Open() => _open.TrySetResult();
    }
}
