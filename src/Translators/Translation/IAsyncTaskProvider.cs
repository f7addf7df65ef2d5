using System.Buffers;
using Gateway.Translators.Contract;

namespace Gateway.Translators.Translation;

/// <summary>
/// A provider that does not answer the request: it accepts a task, returns its id, and later
/// POSTs the finished task to a callback URL (or lets it be polled).
/// </summary>
public interface IAsyncTaskProvider : IProvider
{
    /// <summary>Path of the submit endpoint under the base URL.</summary>
    string SubmitPath { get; }

    /// <summary>Path that returns the task's current state.</summary>
    string PollPath(string taskId);

    /// <summary>Writes the submit body, or returns why this deployment cannot serve the request.</summary>
    RequestError? WriteSubmit(ChatCompletionRequest request, DeploymentTarget target, string callbackUrl, IBufferWriter<byte> body);

    /// <summary>The task id from the submit answer, or null when there is none.</summary>
    string? ReadTaskId(ReadOnlySpan<byte> submitAnswer);

    /// <summary>Reads a task (a callback body or a poll answer).</summary>
    TaskState ReadTask(ReadOnlySpan<byte> task);
}

public enum TaskProgress
{
    Pending,
    Finished,
    Failed,
    Unreadable,
}

/// <summary>A task as read: still running, finished with a completion, or failed with a message.</summary>
public sealed record TaskState(TaskProgress Status, string? TaskId = null, ChatCompletion? Completion = null,
    string? FailureMessage = null, long? ChargeMicros = null)
{
    public static readonly TaskState Unreadable = new(TaskProgress.Unreadable);
}
