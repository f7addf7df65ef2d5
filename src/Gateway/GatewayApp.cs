using System.Runtime.CompilerServices;
using Gateway.AsyncTasks;
using Gateway.Auth;
using Gateway.Caching;
using Gateway.Dashboard;
using Gateway.Configuration;
using Gateway.Endpoints;
using Gateway.Errors;
using Gateway.Forwarding;
using Gateway.Keys;
using Gateway.Lifecycle;
using Gateway.Metering;
using Gateway.RateLimiting;
using Gateway.Redis;
using Gateway.Routing;
using Gateway.Telemetry;
using Gateway.Requests;

namespace Gateway;

/// <summary>Builds the gateway host: <see cref="Create"/> = configuration + services + endpoints.</summary>
public static class GatewayApp
{
    /// <param name="args">Command-line arguments (ASP.NET's <c>--urls</c> and configuration overrides).</param>
    /// <param name="configure">Lets tests and benchmarks adjust the builder before it is built.</param>
    public static WebApplication Create(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        BufferedConsole.Install();
        // appsettings.json (log levels) ships beside the binary; gateway.json is looked up from the working directory.
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
        var configFile = GatewayConfigFile.AddTo(builder, args);
        builder.WebHost.ConfigureKestrel(k => k.AddServerHeader = false);
        // ASP.NET's own request lines would repeat the access log and print request paths, and the Hive V2
        // callback path carries a signed token: they stay off, whatever the log levels say. Once the gateway serves,
        // the category is off entirely: while any level of it is on, ASP.NET makes an Activity and a log scope for every
        // request (~1.5% of a request's CPU) for lines nobody sees. Until then its start-up failures still show.
        var serving = new StrongBox<bool>();
        builder.Logging.AddFilter("Microsoft.AspNetCore.Hosting.Diagnostics", level => level >= LogLevel.Warning && !serving.Value);
        // The access log has its own cheaper writer (same format, same console).
        builder.Logging.AddFilter<Microsoft.Extensions.Logging.Console.ConsoleLoggerProvider>(RequestTelemetry.AccessLogCategory, LogLevel.None);
        builder.Services.AddSingleton<ILoggerProvider, AccessLogProvider>();
        TelemetryServices.AddMetricsListener(builder);
        builder.Services.AddGateway(configFile, builder.Configuration);
        configure?.Invoke(builder);

        var app = builder.Build();
        app.MapGateway();
        app.Lifetime.ApplicationStarted.Register(() => serving.Value = true);
        app.Lifetime.ApplicationStopped.Register(BufferedConsole.Flush);
        return app;
    }

    internal static IServiceCollection AddGateway(this IServiceCollection services, GatewayConfigFile configFile, IConfiguration configuration)
    {
        services.AddSingleton(configFile);
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton<ConfigStore>();
        services.AddGatewayAuth();
        services.AddRuntimeKeys(configuration);
        services.AddGatewayTelemetry(configuration);
        services.AddSingleton<ProviderClients>();
        services.AddSingleton<ProviderAccounts>();
        services.AddSingleton<IDeploymentInvoker, HttpForwardingInvoker>();
        services.AddSingleton<ChatForwarder>();
        services.AddGatewayRouting(configuration);
        services.AddGatewayRedis(configuration);
        services.AddAsyncTasks(configuration);
        services.AddGatewayLimits(configuration);
        services.AddResponseCache(configuration);
        services.AddDashboard();
        services.AddSingleton<ChatCompletionsEndpoint>();
        services.AddSingleton<OpenAiStatusPages>();
        services.AddMetering(configuration);
        services.AddGatewayLifecycle(configuration);
        return services;
    }

    internal static WebApplication MapGateway(this WebApplication app)
    {
        // Fail at start-up, not on the first request, when the configuration is invalid.
        var config = app.Services.GetRequiredService<ConfigStore>();

        app.MapGatewayTelemetry();
        TokenCounter.Warm();
        if (TrustedProxies.Options(config.Current.Server.TrustedProxies) is { } forwarded)
        {
            // The client address (throttles, logs) comes from X-Forwarded-For only when a trusted proxy sent it.
            app.UseForwardedHeaders(forwarded);
        }

        app.Use(RequestIds.Middleware);
        app.Use(app.Services.GetRequiredService<OpenAiStatusPages>().Middleware);

        // Callbacks are answered before routing, whose debug logs would print the token in their path.
        var callbacks = app.Services.GetRequiredService<CallbackEndpoint>();
        app.Map(AsyncTaskInvoker.CallbackPath.TrimEnd('/'), branch => branch.Run(callbacks.HandleAsync));
        app.UseRouting();
        // Each endpoint declares the key it needs (GatewayPolicies); only those endpoints look at the Authorization header.
        app.UseAuthorization();

        var chat = app.Services.GetRequiredService<ChatCompletionsEndpoint>();
        app.MapPost("/v1/chat/completions", chat.HandleAsync).RequireClientKey().WithMetadata(chat);
        app.MapGet("/v1/models", ModelsEndpoint.ListAsync).RequireClientKey();
        app.MapGet("/v1/models/{**id}", (HttpContext context, string id) => ModelsEndpoint.GetAsync(context, id)).RequireClientKey();
        var usage = app.Services.GetRequiredService<UsageEndpoints>();
        app.MapGet("/v1/usage", usage.OwnAsync).RequireClientKey();
        app.MapGet("/admin/usage", usage.AdminAsync).RequireAdmin("other keys' usage");
        app.MapGet("/admin/deployments", app.Services.GetRequiredService<DeploymentsEndpoint>().HandleAsync).RequireAdmin("the deployments' state");
        KeyAdminEndpoints.Map(app);
        TeamAdminEndpoints.Map(app);
        DashboardEndpoints.Map(app);
        ReadinessEndpoints.Map(app);
        app.Services.GetRequiredService<StartupChecks>().Report();
        return app;
    }
}
