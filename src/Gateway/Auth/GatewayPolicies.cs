using Gateway.Errors;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Authorization.Policy;

namespace Gateway.Auth;

/// <summary>
/// What an endpoint needs from its caller: <see cref="ClientKey"/> (any valid key) or <see cref="AdminKey"/> (a key with
/// <c>"Admin": true</c>, sent as a bearer token, never a cookie). Endpoints declare it with <c>RequireAuthorization</c>.
/// </summary>
internal static class GatewayPolicies
{
    public const string Scheme = "ClientKey";
    public const string ClientKey = "client-key";
    public const string AdminKey = "admin-key";

    public static IServiceCollection AddGatewayAuth(this IServiceCollection services)
    {
        services.AddSingleton<ClientAuth>();
        // No default scheme, not even the one ASP.NET Core would infer from a single scheme: WebApplication then adds an
        // authentication middleware that would read (and count as a failure) the missing key of every health probe and
        // dashboard asset. Only an endpoint's policy authenticates.
        // (ASP.NET Core's own switch for this; its option is internal.)
        AppContext.SetSwitch("Microsoft.AspNetCore.Authentication.SuppressAutoDefaultScheme", true);
        services.AddAuthentication(o => o.AddScheme<ClientKeyAuthenticationHandler>(Scheme, displayName: null));
        services.AddTransient<ClientKeyAuthenticationHandler>();
        services.AddAuthorizationBuilder()
            .AddPolicy(ClientKey, p => p.AddAuthenticationSchemes(Scheme).AddRequirements(GatewayKeyRequirement.AnyKey))
            .AddPolicy(AdminKey, p => p.AddAuthenticationSchemes(Scheme).AddRequirements(GatewayKeyRequirement.Admin));
        services.AddSingleton<IAuthorizationHandler, GatewayRequirementHandler>();
        services.AddSingleton<IPolicyEvaluator, GatewayPolicyEvaluator>();
        services.AddSingleton<IAuthorizationMiddlewareResultHandler, RefusalAccounting>();
        return services;
    }

    /// <summary>An admin-only endpoint, naming what it shows in the 403 other keys get.</summary>
    public static TBuilder RequireAdmin<TBuilder>(this TBuilder builder, string what) where TBuilder : IEndpointConventionBuilder =>
        builder.RequireAuthorization(AdminKey).WithMetadata(new AdminResource(what));

    public static TBuilder RequireClientKey<TBuilder>(this TBuilder builder) where TBuilder : IEndpointConventionBuilder =>
        builder.RequireAuthorization(ClientKey);
}

/// <summary>Endpoint metadata: a refused caller of this endpoint is reported (metrics, usage refusals, a debug log line).</summary>
internal interface IReportsRefusedCallers
{
    void Refused(HttpContext context, GatewayError error);
}

/// <summary>
/// Writes the refusal as ASP.NET Core does (challenge or forbid, through the handler), then lets an endpoint that counts
/// its refused callers (the chat endpoint) count this one.
/// </summary>
internal sealed class RefusalAccounting : IAuthorizationMiddlewareResultHandler
{
    private readonly AuthorizationMiddlewareResultHandler _default = new();

    // A request let through (nearly every one) goes straight on, as the default handler would send it: no async step of
    // its own wrapped around the whole request (two state machines a request, bench/allocs.sh).
    public Task HandleAsync(RequestDelegate next, HttpContext context, AuthorizationPolicy policy, PolicyAuthorizationResult result) =>
        result.Succeeded ? next(context) : RefuseAsync(next, context, policy, result);

    private async Task RefuseAsync(RequestDelegate next, HttpContext context, AuthorizationPolicy policy, PolicyAuthorizationResult result)
    {
        await _default.HandleAsync(next, context, policy, result);
        if ((result.Challenged || result.Forbidden) && context.GetEndpoint()?.Metadata.GetMetadata<IReportsRefusedCallers>() is { } reporter)
        {
            reporter.Refused(context, context.Features.Get<AuthRefusal>()?.Error ?? GatewayError.MissingKey());
        }
    }
}
