using Gateway.Auth;
using Gateway.Configuration;
using Gateway.Errors;

namespace Gateway.Dashboard;

/// <summary>The admin endpoints' gate: a valid key with <c>"Admin": true</c>, sent as a bearer token (never a cookie).</summary>
internal static class AdminAccess
{
    /// <summary>The admin key, or null after writing the 401/403 the caller gets.</summary>
    public static async Task<ClientKey?> RequireAsync(HttpContext context, ClientAuth auth, string what)
    {
        var key = auth.Authenticate(context, out var authError);
        if (key is null)
        {
            await ErrorWriter.WriteAsync(context, authError!);
            return null;
        }

        if (!key.IsAdmin)
        {
            await ErrorWriter.WriteAsync(context, new GatewayError(403, "invalid_request_error", $"This key may not read {what}.", Code: "forbidden"));
            return null;
        }

        return key;
    }
}
