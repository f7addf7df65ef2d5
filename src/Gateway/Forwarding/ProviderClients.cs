using System.Collections.Concurrent;
using System.Diagnostics;
using Gateway.Configuration;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Forwarder;

namespace Gateway.Forwarding;

/// <summary>
/// One pooled <see cref="HttpMessageInvoker"/> per provider, made by YARP's <see cref="IForwarderHttpClientFactory"/>, reused by every request to it.
/// A configuration reload that changes a provider's transport gets a new pool; the old one is
/// disposed after in-flight requests have had time to finish.
/// </summary>
internal sealed class ProviderClients : IDisposable
{
    private static readonly TimeSpan RetiredPoolGrace = TimeSpan.FromMinutes(10);
    private readonly Lock _gate = new();
    private readonly ConcurrentDictionary<string, (string Fingerprint, HttpMessageInvoker Invoker)> _clients = new(StringComparer.OrdinalIgnoreCase);

    public HttpMessageInvoker For(ProviderRuntime provider)
    {
        var fingerprint = provider.TransportFingerprint;
        if (_clients.TryGetValue(provider.Name, out var entry) && entry.Fingerprint == fingerprint)
        {
            return entry.Invoker;
        }

        lock (_gate)
        {
            if (_clients.TryGetValue(provider.Name, out entry) && entry.Fingerprint == fingerprint)
            {
                return entry.Invoker;
            }

            if (entry.Invoker is { } retired)
            {
                _ = Task.Delay(RetiredPoolGrace).ContinueWith(_ => retired.Dispose(), TaskScheduler.Default);
            }

            var invoker = Create(provider);
            _clients[provider.Name] = (fingerprint, invoker);
            return invoker;
        }
    }

    public void Dispose()
    {
        foreach (var (_, invoker) in _clients.Values)
        {
            invoker.Dispose();
        }
    }

    private static HttpMessageInvoker Create(ProviderRuntime provider) => new ProviderClientFactory(provider).CreateClient(new ForwarderHttpClientContext
    {
        NewConfig = new HttpClientConfig { MaxConnectionsPerServer = provider.Options.MaxConnections, EnableMultipleHttp2Connections = true },
    });

    /// <summary>
    /// YARP's forwarder client factory (proxy-free, no redirects, no cookies, no decompression: what a forwarder needs),
    /// with one provider's own transport settings on top.
    /// </summary>
    private sealed class ProviderClientFactory(ProviderRuntime provider) : ForwarderHttpClientFactory
    {
        protected override void ConfigureHandler(ForwarderHttpClientContext context, SocketsHttpHandler handler)
        {
            base.ConfigureHandler(context, handler);
            handler.ConnectTimeout = provider.ConnectTimeout;
            // Refresh connections now and then so DNS changes at the provider are picked up.
            handler.PooledConnectionLifetime = TimeSpan.FromMinutes(5);
            handler.PooledConnectionIdleTimeout = TimeSpan.FromSeconds(60);
            // Our trace ids are nobody else's business: do not send traceparent to third-party providers.
            handler.ActivityHeadersPropagator = DistributedContextPropagator.CreateNoOutputPropagator();
        }
    }
}
