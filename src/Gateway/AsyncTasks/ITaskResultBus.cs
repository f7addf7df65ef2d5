namespace Gateway.AsyncTasks;

/// <summary>What the callback endpoint did with a finished task.</summary>
internal enum CallbackAcceptance
{
    /// <summary>Stored and announced to whichever replica waits for it.</summary>
    Accepted,

    /// <summary>A result for this task was already taken; this one is ignored (but acknowledged).</summary>
    Duplicate,

    /// <summary>No replica registered this task (or it expired).</summary>
    Unknown,

    /// <summary>The body is about another task than the one this token was issued for.</summary>
    WrongTask,
}

/// <summary>
/// Carries finished async tasks from the replica that receives the provider's callback to the one
/// holding the client's connection. A result is stored before it is announced, so a waiter that
/// subscribes late still finds it.
/// </summary>
internal interface ITaskResultBus
{
    /// <summary>Marks a task as awaited, so its callback is recognised, for <paramref name="lifetime"/>.</summary>
    Task RegisterAsync(string correlationId, TimeSpan lifetime);

    /// <summary>Records the provider's task id once the task is submitted, so that callbacks about other tasks are refused.</summary>
    Task SetTaskIdAsync(string correlationId, string taskId);

    /// <summary>Takes a finished task's body, if it is about the registered task; only the first one per task is used.</summary>
    Task<CallbackAcceptance> CompleteAsync(string correlationId, string? taskId, byte[] taskBody);

    /// <summary>The task's body once it is complete, or null when <paramref name="timeout"/> passes first.</summary>
    Task<byte[]?> WaitAsync(string correlationId, TimeSpan timeout, CancellationToken cancellationToken);
}
