namespace Gateway.Errors;

/// <summary>Gives the framework's bodiless 404 and 405 answers an OpenAI error body.</summary>
internal static class OpenAiStatusPages
{
    public static async Task Middleware(HttpContext context, RequestDelegate next)
    {
        await next(context);
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
}
