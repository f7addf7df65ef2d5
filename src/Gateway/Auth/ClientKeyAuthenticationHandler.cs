using System.Security.Claims;
using System.Text.Encodings.Web;
using Gateway.Configuration;
using Gateway.Errors;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace Gateway.Auth;

/// <summary>
/// ASP.NET Core's authentication scheme for client keys (<c>Authorization: Bearer &lt;key&gt;</c>): an endpoint declares
/// the policy it needs (<see cref="GatewayPolicies"/>) and reads the caller with <see cref="AuthenticatedKeys.Key"/>.
/// A refused key is remembered on the request so the challenge answers with the exact OpenAI-shaped error (missing,
/// invalid, or throttled after too many failures from one address).
/// </summary>
internal sealed class ClientKeyAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder, ClientAuth auth, ConfigStore config)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        // One configuration snapshot for the whole request: the key and what the endpoint then resolves agree.
        var snapshot = config.Current;
        var key = auth.Authenticate(Context, snapshot, out var error);
        if (key is null)
        {
            Context.Features.Set(new AuthRefusal(error!));
            return Task.FromResult(AuthenticateResult.Fail(error!.Code ?? "refused"));
        }

        Context.Features.Set(new AuthenticatedKey(key, snapshot));
        return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(AuthenticatedKeys.PrincipalOf(key), Scheme.Name)));
    }

    protected override Task HandleChallengeAsync(AuthenticationProperties properties) =>
        ErrorWriter.WriteAsync(Context, Context.Features.Get<AuthRefusal>()?.Error ?? GatewayError.MissingKey());

    protected override Task HandleForbiddenAsync(AuthenticationProperties properties)
    {
        var what = Context.GetEndpoint()?.Metadata.GetMetadata<AdminResource>()?.What ?? "this";
        return ErrorWriter.WriteAsync(Context, new GatewayError(403, "invalid_request_error", $"This key may not read {what}.", Code: "forbidden"));
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

    // A key's principal never changes while its configuration stands, so it is built once per key object, not per request.
    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<ClientKey, ClaimsPrincipal> Principals = new();

    public static ClaimsPrincipal PrincipalOf(ClientKey key) => Principals.GetValue(key, static k =>
    {
        List<Claim> claims = [new(ClaimTypes.Name, k.Name), new(ClaimTypes.NameIdentifier, k.Id)];
        if (k.IsAdmin)
        {
            claims.Add(new Claim(AdminClaim, "true"));
        }

        return new ClaimsPrincipal(new ClaimsIdentity(claims, GatewayPolicies.Scheme));
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
