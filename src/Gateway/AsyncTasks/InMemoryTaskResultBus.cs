using System.Collections.Concurrent;

namespace Gateway.AsyncTasks;

/// <summary>The task bus for a single instance (no Redis): entries expire like their Redis counterparts.</summary>
internal sealed class InMemoryTaskResultBus(TimeProvider clock) : ITaskResultBus
{
    private static readonly TimeSpan ResultLifetime = TimeSpan.FromMinutes(10);
    private readonly ConcurrentDictionary<string, Entry> _tasks = new(StringComparer.Ordinal);

    public Task RegisterAsync(string correlationId, TimeSpan lifetime)
    {
        Sweep();
        _tasks[correlationId] = new Entry(clock.GetUtcNow() + lifetime);
        return Task.CompletedTask;
    }

    public Task SetTaskIdAsync(string correlationId, string taskId)
    {
        if (_tasks.TryGetValue(correlationId, out var entry))
        {
            entry.TaskId = taskId;
        }

        return Task.CompletedTask;
    }

    public Task<CallbackAcceptance> CompleteAsync(string correlationId, string? taskId, byte[] taskBody)
    {
        if (!_tasks.TryGetValue(correlationId, out var entry) || entry.ExpiresAt < clock.GetUtcNow())
        {
            return Task.FromResult(CallbackAcceptance.Unknown);
        }

        if (entry.TaskId is { } expected && expected != taskId)
        {
            return Task.FromResult(CallbackAcceptance.WrongTask);
        }

        if (!entry.Result.TrySetResult(taskBody))
        {
            return Task.FromResult(CallbackAcceptance.Duplicate);
        }

        entry.ExpiresAt = clock.GetUtcNow() + ResultLifetime;
        return Task.FromResult(CallbackAcceptance.Accepted);
    }

    public async Task<byte[]?> WaitAsync(string correlationId, TimeSpan timeout, CancellationToken cancellationToken)
    {
        if (!_tasks.TryGetValue(correlationId, out var entry))
        {
            await Task.Delay(timeout, clock, cancellationToken);
            return null;
        }

        try
        {
            return await entry.Result.Task.WaitAsync(timeout, clock, cancellationToken);
        }
        catch (TimeoutException)
        {
            return null;
        }
    }

    private void Sweep()
    {
        var now = clock.GetUtcNow();
        foreach (var (id, entry) in _tasks)
        {
            if (entry.ExpiresAt < now)
            {
                _tasks.TryRemove(id, out _);
            }
        }
    }

    private sealed class Entry(DateTimeOffset expiresAt)
    {
        public DateTimeOffset ExpiresAt { get; set; } = expiresAt;

        public string? TaskId { get; set; }
        public TaskCompletionSource<byte[]> Result { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
