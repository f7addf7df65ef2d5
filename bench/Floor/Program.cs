using System.Net;
using Yarp.ReverseProxy.Forwarder;

// Usage: Floor --urls http://127.0.0.1:PORT --upstream http://127.0.0.1:PORT/ --path /v1/openai/chat/completions
// Relays POST /v1/chat/completions to the upstream path, body and answer untouched (streams included):
// the least any .NET gateway built on Kestrel and YARP can spend per request on this machine.
var builder = WebApplication.CreateSlimBuilder(args);
builder.Logging.ClearProviders();
builder.Services.AddHttpForwarder();
var app = builder.Build();
var upstream = app.Configuration["upstream"] ?? throw new InvalidOperationException("--upstream is required");
var path = app.Configuration["path"] ?? "/v1/chat/completions";
var client = new HttpMessageInvoker(new SocketsHttpHandler
{
    UseProxy = false,
    AllowAutoRedirect = false,
    AutomaticDecompression = DecompressionMethods.None,
    UseCookies = false,
    ActivityHeadersPropagator = null,
    PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
});
var forwarder = app.Services.GetRequiredService<IHttpForwarder>();
var transformer = new PathTransformer(path);
var config = new ForwarderRequestConfig { ActivityTimeout = TimeSpan.FromSeconds(100) };
app.MapPost("/v1/chat/completions", async context => await forwarder.SendAsync(context, upstream, client, config, transformer));
app.MapGet("/healthz", () => "ok");
app.Run();

internal sealed class PathTransformer(string path) : HttpTransformer
{
    public override async ValueTask TransformRequestAsync(HttpContext httpContext, HttpRequestMessage proxyRequest, string destinationPrefix,
        CancellationToken cancellationToken)
    {
        await base.TransformRequestAsync(httpContext, proxyRequest, destinationPrefix, cancellationToken);
        proxyRequest.RequestUri = new Uri(destinationPrefix.TrimEnd('/') + path);
        proxyRequest.Headers.Host = null;
    }
}
