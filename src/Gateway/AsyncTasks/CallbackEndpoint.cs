using Gateway.Configuration;
using Gateway.Endpoints;
using Gateway.Errors;
using Gateway.Translators.Translation;

namespace Gateway.AsyncTasks;

/// <summary>
/// <c>POST /callbacks/tasks/{token}</c>: where async-task providers deliver finished tasks. No client
/// key: the signed token is the credential. Forged or expired tokens get 401, unknown tasks 404,
/// oversized bodies 413; a duplicate of a callback already taken is acknowledged (2xx, so the
/// provider stops retrying) and ignored.
/// </summary>
internal sealed partial class CallbackEndpoint(ConfigStore config, CallbackTokens tokens, ITaskResultBus bus, ILogger<CallbackEndpoint> logger)
{
    /// <summary>Runs as a branch below <see cref="AsyncTaskInvoker.CallbackPath"/>: the rest of the path is the token.</summary>
    public async Task HandleAsync(HttpContext context)
    {
        if (!HttpMethods.IsPost(context.Request.Method))
        {
            await ErrorWriter.WriteAsync(context, GatewayError.MethodNotAllowed(context.Request.Method, AsyncTaskInvoker.CallbackPath + "{token}"));
            return;
        }

        var rest = context.Request.Path.Value;
        var token = string.IsNullOrEmpty(rest) || rest == "/" ? null : rest.TrimStart('/');
        switch (tokens.Verify(token, out var correlationId, out var providerName))
        {
            case TokenCheck.Invalid:
                await ErrorWriter.WriteAsync(context, new GatewayError(401, "invalid_request_error",
                    "The callback token is missing or not valid.", Code: "invalid_callback_token"));
                return;
            case TokenCheck.Expired:
                await ErrorWriter.WriteAsync(context, new GatewayError(401, "invalid_request_error",
                    "The callback token has expired.", Code: "expired_callback_token"));
                return;
        }

        var snapshot = config.Current;
        if (!snapshot.Providers.TryGetValue(providerName, out var provider) || provider.Translator is not IAsyncTaskProvider translator)
        {
            await ErrorWriter.WriteAsync(context, UnknownTask());
            return;
        }

        var limit = snapshot.Server.MaxCallbackBodyBytes;
        var read = await RequestBodyReader.ReadAsync(context, limit, logger);
        if (read.Error is not null || read.ClientGone)
        {
            await ErrorWriter.WriteAsync(context, read.Error ?? GatewayError.BodyTooLarge(limit));
            return;
        }

        var body = read.Span.ToArray();
        read.Return();
        var state = translator.ReadTask(body);
        if (state.Status == TaskProgress.Unreadable)
        {
            await ErrorWriter.WriteAsync(context, new GatewayError(400, "invalid_request_error", "The callback body is not a task.", Code: "invalid_task"));
            return;
        }

        if (state.Status == TaskProgress.Pending)
        {
            // An intermediate notice: nothing to deliver yet.
            context.Response.StatusCode = StatusCodes.Status202Accepted;
            return;
        }

        CallbackAcceptance acceptance;
        try
        {
            acceptance = await bus.CompleteAsync(correlationId, state.TaskId, body);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // The provider retries callbacks that fail; the waiting replica also polls.
            Log.StoreFailed(logger, ex, correlationId);
            await ErrorWriter.WriteAsync(context, new GatewayError(503, "server_error", "The callback could not be stored; retry.", Code: "callback_store_unavailable"));
            return;
        }

        Log.Received(logger, correlationId, state.TaskId, acceptance);
        if (acceptance == CallbackAcceptance.Unknown)
        {
            await ErrorWriter.WriteAsync(context, UnknownTask());
            return;
        }

        if (acceptance == CallbackAcceptance.WrongTask)
        {
            await ErrorWriter.WriteAsync(context, new GatewayError(400, "invalid_request_error",
                "The callback is about another task than the one its token was issued for.", Code: "invalid_task"));
            return;
        }

        context.Response.StatusCode = StatusCodes.Status200OK;
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(acceptance == CallbackAcceptance.Accepted ? """{"status":"accepted"}""" : """{"status":"duplicate"}""");
    }

    private static GatewayError UnknownTask() =>
        new(404, "invalid_request_error", "No task is waiting for this callback.", Code: "unknown_task");

    private static partial class Log
    {
        [LoggerMessage(70, LogLevel.Information, "Callback for task {CorrelationId} (provider task {TaskId}): {Acceptance}")]
        public static partial void Received(ILogger logger, string correlationId, string? taskId, CallbackAcceptance acceptance);

        [LoggerMessage(71, LogLevel.Error, "Storing the callback of task {CorrelationId} failed")]
        public static partial void StoreFailed(ILogger logger, Exception exception, string correlationId);
    }
}
