using Gateway.Requests;

namespace Gateway.Endpoints;

/// <summary>
/// Gives every request an <c>x-request-id</c>: the caller's own if it is a sane token (so traces
/// join up across hops), else a new random one. It is on every answer, errors included.
/// </summary>
internal static class RequestIds
{
    private const string Header = "x-request-id";
    private const int MaxLength = 128;

    /// <summary>Not an async method: nothing happens after the rest of the pipeline, so there is no state machine to box.</summary>
    public static Task Middleware(HttpContext context, RequestDelegate next)
    {
        var id = Sanitize(context.Request.Headers[Header].ToString()) ?? Ids.New("req_", 16);
        // Kept as the request's trace identifier: ASP.NET Core's own "this request in trace logs", held in a field of the
        // request (HttpContext.Items would make a dictionary for it, three objects a request).
        context.TraceIdentifier = id;
        // OnStarting survives Response.Clear(), so error answers written after a failed forward keep it.
        context.Response.OnStarting(static state =>
        {
            var ctx = (HttpContext)state;
            ctx.Response.Headers[Header] = ctx.TraceIdentifier;
            return Task.CompletedTask;
        }, context);
        return next(context);
    }

    public static string Get(HttpContext context) => context.TraceIdentifier;

    private static string? Sanitize(string value)
    {
        if (value.Length is 0 or > MaxLength)
        {
            return null;
        }

        foreach (var c in value)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or ':'))
            {
                return null;
            }
        }

        return value;
    }
}
