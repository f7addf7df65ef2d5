using Microsoft.Extensions.Time.Testing;

namespace Gateway.Tests.Infrastructure;

/// <summary>
/// A <see cref="FakeTimeProvider"/> that also tells when a timer was last set to a given delay, by this clock's own
/// time. A test that moves the clock can so know the code under test has (re)armed a timeout since the last move,
/// instead of hoping it had time to: a cancellation source on this clock arms its timer through
/// <see cref="ITimer.Change"/> (<c>CancelAfter</c>) or at creation.
/// </summary>
public sealed class WatchedClock : TimeProvider
{
    private readonly FakeTimeProvider _time = new(DateTimeOffset.UtcNow);
    private readonly Lock _gate = new();
    private readonly Dictionary<TimeSpan, DateTimeOffset> _lastSet = [];

    public override DateTimeOffset GetUtcNow() => _time.GetUtcNow();

    public override long GetTimestamp() => _time.GetTimestamp();

    public override long TimestampFrequency => _time.TimestampFrequency;

    public override TimeZoneInfo LocalTimeZone => _time.LocalTimeZone;

    public void Advance(TimeSpan by) => _time.Advance(by);

    /// <summary>This clock's time when a timer was last set to fire <paramref name="delay"/> later; null when none was.</summary>
    public DateTimeOffset? LastSet(TimeSpan delay)
    {
        lock (_gate)
        {
            return _lastSet.TryGetValue(delay, out var at) ? at : null;
        }
    }

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        Note(dueTime);
        return new Watched(this, _time.CreateTimer(callback, state, dueTime, period));
    }

    private void Note(TimeSpan dueTime)
    {
        lock (_gate)
        {
            _lastSet[dueTime] = _time.GetUtcNow();
        }
    }

    private sealed class Watched(WatchedClock clock, ITimer inner) : ITimer
    {
        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            clock.Note(dueTime);
            return inner.Change(dueTime, period);
        }

        public void Dispose() => inner.Dispose();

        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }
}
