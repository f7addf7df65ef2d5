using Microsoft.AspNetCore.Connections;

namespace Gateway.Errors;

/// <summary>
/// The last word on every answer: the framework's bodiless 404 and 405 get an OpenAI error body, a client's
/// malformed HTTP that surfaces as an exception gets its 4xx (logged at Debug), a client that left is not an
/// error at all, and anything else that escaped an endpoint becomes one OpenAI 500 and one Error log line,
/// instead of Kestrel's bare 500.
/// </summary>
internal sealed partial class OpenAiStatusPages(ILogger<OpenAiStatusPages> logger)
{
    public async Task Middleware(HttpContext context, RequestDelegate next)
    {
        try
        {
            await next(context);
        }
        catch (BadHttpRequestException ex)
        {
            Log.BadRequest(logger, ex.StatusCode, ex.Message);
            await ErrorWriter.WriteAsync(context, new GatewayError(ex.StatusCode is >= 400 and < 500 ? ex.StatusCode : 400,
                "invalid_request_error", "The request could not be read: its HTTP framing is malformed.", Code: "invalid_request"));
            return;
        }
        catch (Exception ex) when (ex is OperationCanceledException or ConnectionResetException or IOException
            && context.RequestAborted.IsCancellationRequested)
        {
            // The client left; there is nobody to answer.
            return;
        }
        catch (Exception ex)
        {
            Log.Unhandled(logger, ex, context.Request.Method, context.Request.Path.StartsWithSegments("/callbacks") ? "/callbacks/…" : context.Request.Path.Value);
            await ErrorWriter.WriteAsync(context, GatewayError.Internal());
            return;
        }

        var response = context.Response;
        if (response.HasStarted || response.ContentLength is not null || response.ContentType is not null)
        {
            return;
        }

        var request = context.Request;
        var error = response.StatusCode switch
        {
            StatusCodes.Status404NotFound => GatewayError.UnknownRoute(request.Method, request.Path),
            StatusCodes.Status405MethodNotAllowed => GatewayError.MethodNotAllowed(request.Method, request.Path),
            _ => null,
        };
        if (error is not null)
        {
            await ErrorWriter.WriteAsync(context, error);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(32, LogLevel.Debug, "Request refused ({Status}): {Reason}")]
        public static partial void BadRequest(ILogger logger, int status, string reason);

        [LoggerMessage(33, LogLevel.Error, "Unhandled failure answering {Method} {Path}")]
        public static partial void Unhandled(ILogger logger, Exception exception, string method, string? path);
    }
}
