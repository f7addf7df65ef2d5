using System.Security.Claims;
using Gateway.Configuration;
using Gateway.Errors;
using Microsoft.AspNetCore.Authentication;

namespace Gateway.Auth;

/// <summary>
/// ASP.NET Core's authentication scheme for client keys (<c>Authorization: Bearer &lt;key&gt;</c>): an endpoint declares
/// the policy it needs (<see cref="GatewayPolicies"/>) and reads the caller with <see cref="AuthenticatedKeys.Key"/>.
/// A refused key is remembered on the request so the challenge answers with the exact OpenAI-shaped error (missing,
/// invalid, or throttled after too many failures from one address).
/// </summary>
/// <remarks>
/// An <see cref="IAuthenticationHandler"/> of its own rather than <c>AuthenticationHandler&lt;TOptions&gt;</c>: the base
/// class reads its options and creates a logger for every request. This one holds the request and nothing else, and
/// is registered with the container, so making one per request is a constructor call: GET /v1/models (authentication
/// and a small answer) went from ~30 to ~28.5 µs of CPU per request; ASP.NET Core's authorization around it costs the
/// rest of what the hand-written checks did not (~20 µs before this scheme).
/// </remarks>
internal sealed class ClientKeyAuthenticationHandler(ClientAuth auth, ConfigStore config) : IAuthenticationHandler
{
    private HttpContext _context = null!;
    private Task<AuthenticateResult>? _result;

    public Task InitializeAsync(AuthenticationScheme scheme, HttpContext context)
    {
        _context = context;
        return Task.CompletedTask;
    }

    // Once per request, however many times the policy asks.
    public Task<AuthenticateResult> AuthenticateAsync() => _result ??= Task.FromResult(ClientKeyAuthentication.Run(_context, auth, config));

    public Task ChallengeAsync(AuthenticationProperties? properties) =>
        ErrorWriter.WriteAsync(_context, _context.Features.Get<AuthRefusal>()?.Error ?? GatewayError.MissingKey());

    public Task ForbidAsync(AuthenticationProperties? properties)
    {
        var what = _context.GetEndpoint()?.Metadata.GetMetadata<AdminResource>()?.What ?? "this";
        return ErrorWriter.WriteAsync(_context, new GatewayError(403, "invalid_request_error", $"This key may not read {what}.", Code: "forbidden"));
    }
}

/// <summary>
/// The check itself, once per request whoever asks (the scheme's handler, or <see cref="GatewayPolicyEvaluator"/>): the
/// key and the snapshot it was checked against, or why it was refused, are kept on the request.
/// </summary>
internal static class ClientKeyAuthentication
{
    public static AuthenticateResult Run(HttpContext context, ClientAuth auth, ConfigStore config)
    {
        if (context.Features.Get<AuthenticatedKey>() is { } known)
        {
            return AuthenticateResult.Success(AuthenticatedKeys.TicketOf(known.Key));
        }

        if (context.Features.Get<AuthRefusal>() is { } refused)
        {
            return AuthenticateResult.Fail(refused.Error.Code ?? "refused");
        }

        // One configuration snapshot for the whole request: the key and what the endpoint then resolves agree.
        var snapshot = config.Current;
        var key = auth.Authenticate(context, snapshot, out var error);
        if (key is null)
        {
            context.Features.Set(new AuthRefusal(error!));
            return AuthenticateResult.Fail(error!.Code ?? "refused");
        }

        context.Features.Set(new AuthenticatedKey(key, snapshot));
        return AuthenticateResult.Success(AuthenticatedKeys.TicketOf(key));
    }
}

/// <summary>Why the request's key was refused; the challenge writes it.</summary>
internal sealed record AuthRefusal(GatewayError Error);

/// <summary>The caller's key, and the configuration snapshot it was checked against (the request uses that one throughout).</summary>
internal sealed record AuthenticatedKey(ClientKey Key, GatewaySnapshot Snapshot);

/// <summary>Endpoint metadata: what an admin endpoint shows, named in the 403 a non-admin key gets.</summary>
internal sealed record AdminResource(string What);

internal static class AuthenticatedKeys
{
    public const string AdminClaim = "gateway.admin";

    // A key's principal and ticket never change while its configuration stands, so they are built once per key object,
    // not per request (nothing in the gateway writes to them).
    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<ClientKey, AuthenticationTicket> Tickets = new();

    public static AuthenticationTicket TicketOf(ClientKey key) => Tickets.GetValue(key, static k =>
    {
        List<Claim> claims = [new(ClaimTypes.Name, k.Name), new(ClaimTypes.NameIdentifier, k.Id)];
        if (k.IsAdmin)
        {
            claims.Add(new Claim(AdminClaim, "true"));
        }

        return new AuthenticationTicket(new ClaimsPrincipal(new ClaimsIdentity(claims, GatewayPolicies.Scheme)), GatewayPolicies.Scheme);
    });

    /// <summary>The authenticated caller; only on endpoints that require a policy (the policy guarantees it is there).</summary>
    public static AuthenticatedKey Caller(this HttpContext context) =>
        context.Features.Get<AuthenticatedKey>() ?? throw new InvalidOperationException("The endpoint reads a key but declares no key policy.");

    public static ClientKey Key(this HttpContext context) => context.Caller().Key;

    /// <summary>The caller's key when one was sent and is valid, on endpoints that are also open to strangers.</summary>
    public static async Task<ClientKey?> OptionalKeyAsync(this HttpContext context)
    {
        var result = await context.AuthenticateAsync(GatewayPolicies.Scheme);
        return result.Succeeded ? context.Features.Get<AuthenticatedKey>()?.Key : null;
    }
}
