using Gateway.Configuration;
using Gateway.Errors;
using Gateway.Requests;
using Gateway.Streaming;
using Gateway.Translators.Translation;

namespace Gateway.AsyncTasks;

/// <summary>
/// Waits for one submitted task: first for its callback, then also by polling, until the deadline.
/// Waiting on the bus doubles as the pause between polls, so a callback that arrives while polling
/// is taken at once. Streaming clients get a keep-alive comment whenever the wait runs long.
/// </summary>
internal sealed class TaskWait(
    AsyncTaskInvoker invoker,
    ChatExchange exchange,
    ProviderRuntime provider,
    IAsyncTaskProvider translator,
    string correlationId,
    string taskId,
    DateTimeOffset deadline,
    ClientStreamWriter? writer)
{
    /// <summary>How the wait ended (metrics and spans): <c>callback</c>, <c>poll</c> or <c>timeout</c>.</summary>
    public string EndedBy { get; private set; } = "timeout";

    public async Task<(TaskState? State, GatewayError? Error)> RunAsync(CancellationToken stop)
    {
        var clock = exchange.Clock;
        var bus = invoker.Bus;
        var start = clock.GetUtcNow();
        var nextPoll = start + provider.CallbackWait;
        var nextKeepAlive = start + provider.KeepAlive;
        while (true)
        {
            var now = clock.GetUtcNow();
            if (now >= deadline)
            {
                return (null, GatewayError.UpstreamTimeout());
            }

            var until = Min(deadline, nextPoll, writer is null ? deadline : nextKeepAlive);
            var body = await bus.WaitAsync(correlationId, Max(until - now, TimeSpan.FromMilliseconds(1)), stop);
            // Whatever arrives must be about this task: a callback for another one is never used.
            if (body is not null && Settled(translator.ReadTask(body)) is { } fromCallback && fromCallback.TaskId == taskId)
            {
                EndedBy = "callback";
                return (fromCallback, null);
            }

            now = clock.GetUtcNow();
            if (writer is not null && now >= nextKeepAlive)
            {
                await writer.KeepAliveAsync(stop);
                nextKeepAlive = now + provider.KeepAlive;
            }

            if (now >= nextPoll)
            {
                var (polled, raw) = await invoker.PollAsync(exchange, provider, translator, taskId, stop);
                if (Settled(polled) is { } fromPoll && (fromPoll.TaskId is null || fromPoll.TaskId == taskId))
                {
                    // Recorded as this task's result, so a late callback is a harmless duplicate.
                    await invoker.RecordPolledAsync(correlationId, fromPoll.TaskId, raw!);
                    EndedBy = "poll";
                    return (fromPoll, null);
                }

                nextPoll = clock.GetUtcNow() + provider.PollInterval;
            }
        }
    }

    private static TaskState? Settled(TaskState? state) =>
        state?.Status is TaskProgress.Finished or TaskProgress.Failed ? state : null;

    private static DateTimeOffset Min(DateTimeOffset a, DateTimeOffset b, DateTimeOffset c) =>
        a < b ? (a < c ? a : c) : (b < c ? b : c);

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;
}
