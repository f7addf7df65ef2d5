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
    private static readonly object ItemKey = new();

    /// <summary>Not an async method: nothing happens after the rest of the pipeline, so there is no state machine to box.</summary>
    public static Task Middleware(HttpContext context, RequestDelegate next)
    {
        var id = Sanitize(context.Request.Headers[Header].ToString()) ?? Ids.New("req_", 16);
        context.Items[ItemKey] = id;
        // OnStarting survives Response.Clear(), so error answers written after a failed forward keep it.
        context.Response.OnStarting(static state =>
        {
            var (ctx, value) = ((HttpContext, string))state;
            ctx.Response.Headers[Header] = value;
            return Task.CompletedTask;
        }, (context, id));
        return next(context);
    }

    public static string Get(HttpContext context) => (string)context.Items[ItemKey]!;

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
