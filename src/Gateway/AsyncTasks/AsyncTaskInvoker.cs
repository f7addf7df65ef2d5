using System.Buffers;
using System.Net.Http.Headers;
using Gateway.Configuration;
using Gateway.Errors;
using Gateway.Forwarding;
using Gateway.Requests;
using Gateway.Streaming;
using Gateway.Telemetry;
using Gateway.Translators.Translation;

namespace Gateway.AsyncTasks;

/// <summary>
/// The bridge from an async-task provider (Hive V2) to an ordinary chat completion: submit the
/// task with a signed callback URL, wait for the callback (which may land on any replica and
/// arrives through <see cref="ITaskResultBus"/>), poll the task when no callback comes, and answer
/// 504 past the deadline. A streaming client gets SSE comment keep-alives while it waits.
/// </summary>
internal sealed partial class AsyncTaskInvoker(
    ConfigStore config,
    CallbackTokens tokens,
    ITaskResultBus bus,
    ProviderClients clients,
    GatewayMetrics metrics,
    TimeProvider clock,
    ILogger<AsyncTaskInvoker> logger) : IDeploymentInvoker
{
    public const string CallbackPath = GatewayPaths.TaskCallbacks;

    private static readonly MediaTypeHeaderValue Json = new("application/json");

    public bool CanServe(ProviderRuntime provider) => provider.Translator is IAsyncTaskProvider;

    internal ITaskResultBus Bus => bus;

    internal async Task RecordPolledAsync(string correlationId, string? taskId, byte[] body)
    {
        try
        {
            await bus.CompleteAsync(correlationId, taskId, body);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            Log.RegisterFailed(logger, ex, correlationId);
        }
    }

    public async Task<AttemptResult> SendAsync(HttpContext context, ChatExchange exchange, Deployment deployment, IAnswerRecorder? recorder)
    {
        var answer = new ProducedAnswer(exchange, deployment, recorder);
        var result = await RunAsync(context, exchange, deployment, answer);
        return result.Answer is null && result.Outcome != AttemptOutcome.Rejected ? result with { Answer = answer } : result;
    }

    private async Task<AttemptResult> RunAsync(HttpContext context, ChatExchange exchange, Deployment deployment, ProducedAnswer answer)
    {
        var provider = deployment.Provider;
        var translator = (IAsyncTaskProvider)provider.Translator;
        var correlationId = CallbackTokens.NewCorrelationId();
        var deadline = clock.GetUtcNow() + provider.TaskTimeout;
        // The token outlives the wait a little: a callback just after the deadline is still acknowledged.
        var token = tokens.Create(correlationId, provider.Name, deadline + TimeSpan.FromMinutes(5));
        var callbackUrl = config.Current.Server.PublicBaseUrl!.TrimEnd('/') + CallbackPath + token;

        var body = new ArrayBufferWriter<byte>(2048);
        if (translator.WriteSubmit(exchange.Request, deployment.Target, callbackUrl, body) is { } rejection)
        {
            return AttemptResult.Reject(rejection);
        }

        Forwarding.DroppedParameters.Announce(context.Response, exchange, deployment);
        await RegisterAsync(correlationId, provider.TaskTimeout + TimeSpan.FromMinutes(5));
        var stop = exchange.Stop.Token;
        var (taskId, submitError) = await SubmitAsync(exchange, provider, translator, body, stop);
        if (submitError is not null)
        {
            return submitError;
        }

        Log.Submitted(logger, exchange.RequestId, provider.Name, taskId!);
        // Not awaited: with Redis slow or down it must not eat into the task's own deadline (the waiter checks ids anyway).
        _ = SetTaskIdAsync(correlationId, taskId!);
        var writer = exchange.Request.IsStreaming
            ? new ClientStreamWriter(context.Response, exchange, answer, translator.MapFinishReason)
            : null;
        using var span = GatewayTelemetry.Source.StartActivity("async_task.wait");
        span?.SetTag(GatewayTelemetry.System, provider.Name);
        metrics.TaskWaiting(provider.Name, +1);
        var wait = new TaskWait(this, exchange, provider, translator, correlationId, taskId!, deadline, writer);
        try
        {
            var (state, error) = await wait.RunAsync(stop);
            var endedBy = state?.Status == TaskProgress.Failed ? "failed" : wait.EndedBy;
            span?.SetTag("gateway.completed_by", endedBy);
            metrics.TaskCompleted(provider.Name, endedBy);
            // What Hive charged is recorded whether the task finished or failed: the money was spent either way.
            var charged = state?.ChargeMicros;
            if (state?.Status == TaskProgress.Finished)
            {
                var relay = new ResponseRelay(exchange, answer, provider.Name, translator, provider.StreamLimits, provider.ApiKey, logger);
                return (await relay.CompletionAsync(context.Response, state.Completion!, stop, writer)).Charged(charged);
            }

            if (error is null)
            {
                Log.TaskFailed(logger, exchange.RequestId, provider.Name, taskId!, state?.FailureMessage ?? "task failed");
                error = GatewayError.StreamFailed();
            }
            // A task still running at the deadline is as long as the client asked it to be: not the deployment's fault alone.
            var shaped = wait.EndedBy == "timeout" && state is null;
            if (writer is { ClientResponseStarted: true })
            {
                await writer.FailAsync(error, stop);
                return (AttemptResult.During(error) with { ShapedByRequest = shaped }).Charged(charged);
            }

            return (AttemptResult.Before(error, retryable: true) with { ShapedByRequest = shaped }).Charged(charged);
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            metrics.TaskCompleted(provider.Name, "client_gone");
            return AttemptResult.Gone;
        }
        finally
        {
            metrics.TaskWaiting(provider.Name, -1);
            writer?.Dispose();
        }
    }

    private async Task RegisterAsync(string correlationId, TimeSpan lifetime)
    {
        try
        {
            await bus.RegisterAsync(correlationId, lifetime);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // Without the registration a callback is not recognised; polling still finds the result.
            Log.RegisterFailed(logger, ex, correlationId);
        }
    }

    private async Task SetTaskIdAsync(string correlationId, string taskId)
    {
        try
        {
            await bus.SetTaskIdAsync(correlationId, taskId);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // Callbacks are then checked by the waiter instead (it compares the task id of what it receives).
            Log.RegisterFailed(logger, ex, correlationId);
        }
    }

    private async Task<(string? TaskId, AttemptResult? Error)> SubmitAsync(ChatExchange exchange, ProviderRuntime provider,
        IAsyncTaskProvider translator, ArrayBufferWriter<byte> body, CancellationToken stop)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(provider.BaseUrl, translator.SubmitPath));
        request.Content = new ReadOnlyMemoryContent(body.WrittenMemory);
        request.Content.Headers.ContentType = Json;
        var (status, answer, failure, retryAfter) = await SendAsync(request, exchange, provider, translator, stop);
        if (failure is not null)
        {
            return (null, failure);
        }

        if (status is < 200 or >= 300)
        {
            return (null, Rejected(exchange, provider, translator, status, answer, retryAfter));
        }

        var taskId = translator.ReadTaskId(answer);
        return taskId is null
            ? (null, AttemptResult.Before(GatewayError.UpstreamInvalidResponse(), retryable: true))
            : (taskId, null);
    }

    /// <summary>Polls the task once; returns its state, or null when the poll itself failed (the wait goes on).</summary>
    internal async Task<(TaskState? State, byte[]? Body)> PollAsync(ChatExchange exchange, ProviderRuntime provider,
        IAsyncTaskProvider translator, string taskId, CancellationToken stop)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(provider.BaseUrl, translator.PollPath(taskId)));
        var (status, answer, failure, _) = await SendAsync(request, exchange, provider, translator, stop);
        if (failure is not null || status is < 200 or >= 300)
        {
            Log.PollFailed(logger, exchange.RequestId, provider.Name, taskId, status);
            return (null, null);
        }

        return (translator.ReadTask(answer), answer);
    }

    /// <summary>Sends a submit or poll; the answer's status, body and Retry-After, or the attempt's failure.</summary>
    private async Task<(int Status, byte[] Body, AttemptResult? Failure, string? RetryAfter)> SendAsync(HttpRequestMessage request,
        ChatExchange exchange, ProviderRuntime provider, IAsyncTaskProvider translator, CancellationToken stop)
    {
        var (name, value) = translator.AuthHeader(provider.ApiKey!);
        request.Headers.TryAddWithoutValidation(name, value);
        request.Headers.TryAddWithoutValidation("x-request-id", exchange.RequestId);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stop);
        timeout.CancelAfter(provider.ResponseTimeout);
        try
        {
            using var response = await clients.For(provider).SendAsync(request, timeout.Token);
            var limit = response.IsSuccessStatusCode ? UpstreamResponses.MaxCompletionBodyBytes : UpstreamResponses.MaxErrorBodyBytes;
            using var body = await UpstreamResponses.ReadAsync(response.Content, limit, timeout.Token);
            return ((int)response.StatusCode, body?.WrittenSpan.ToArray() ?? [], null, UpstreamResponses.HeaderLookup(response)("Retry-After"));
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            return (0, [], AttemptResult.Gone, null);
        }
        catch (OperationCanceledException)
        {
            return (0, [], AttemptResult.Before(GatewayError.UpstreamTimeout(), retryable: true), null);
        }
        catch (HttpRequestException ex)
        {
            Log.Unreachable(logger, ex, exchange.RequestId, provider.Name);
            return (0, [], AttemptResult.Before(GatewayError.UpstreamUnreachable(), retryable: true), null);
        }
    }

    private AttemptResult Rejected(ChatExchange exchange, ProviderRuntime provider, IAsyncTaskProvider translator, int status,
        byte[] body, string? retryAfter)
    {
        var error = translator.ReadError(status, body,
            name => string.Equals(name, "Retry-After", StringComparison.OrdinalIgnoreCase) ? retryAfter : null, clock.GetUtcNow());
        error = error with { Message = SecretRedaction.Scrub(error.Message, provider.ApiKey) };
        Log.SubmitRejected(logger, exchange.RequestId, provider.Name, status, error.Message);
        return AttemptResult.FromUpstream(error);
    }

    private static partial class Log
    {
        [LoggerMessage(60, LogLevel.Debug, "{RequestId}: submitted task {TaskId} to provider {Provider}")]
        public static partial void Submitted(ILogger logger, string requestId, string provider, string taskId);

        [LoggerMessage(61, LogLevel.Warning, "{RequestId}: provider {Provider} refused the task with {Status}: {Message}")]
        public static partial void SubmitRejected(ILogger logger, string requestId, string provider, int status, string message);

        [LoggerMessage(62, LogLevel.Warning, "Registering task {CorrelationId} failed; its callback will not be recognised, polling will")]
        public static partial void RegisterFailed(ILogger logger, Exception exception, string correlationId);

        [LoggerMessage(63, LogLevel.Information, "{RequestId}: polling task {TaskId} at provider {Provider} failed (status {Status})")]
        public static partial void PollFailed(ILogger logger, string requestId, string provider, string taskId, int status);

        [LoggerMessage(65, LogLevel.Warning, "{RequestId}: task {TaskId} at provider {Provider} failed: {Message}")]
        public static partial void TaskFailed(ILogger logger, string requestId, string provider, string taskId, string message);

        [LoggerMessage(64, LogLevel.Warning, "{RequestId}: provider {Provider} could not be reached")]
        public static partial void Unreachable(ILogger logger, Exception exception, string requestId, string provider);
    }
}
