using System.Net;
using Microsoft.AspNetCore.HttpOverrides;
using IPNetwork = System.Net.IPNetwork;

namespace Gateway.Configuration;

/// <summary><c>Server:TrustedProxies</c>: the proxies whose forwarding headers are believed, as ASP.NET's options.</summary>
internal static class TrustedProxies
{
    public static bool TryParse(string text, out IPNetwork network)
    {
        if (IPAddress.TryParse(text, out var address))
        {
            network = new IPNetwork(address, address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128);
            return true;
        }

        return IPNetwork.TryParse(text, out network);
    }

    /// <summary>Null when no proxy is trusted: forwarding headers are then ignored altogether.</summary>
    public static ForwardedHeadersOptions? Options(IReadOnlyList<string> proxies)
    {
        if (proxies.Count == 0)
        {
            return null;
        }

        var options = new ForwardedHeadersOptions { ForwardedHeaders = ForwardedHeaders.XForwardedFor | ForwardedHeaders.XForwardedProto };
        // ASP.NET trusts loopback by default; here only what the operator names.
        options.KnownIPNetworks.Clear();
        options.KnownProxies.Clear();
        foreach (var proxy in proxies)
        {
            if (TryParse(proxy, out var network))
            {
                options.KnownIPNetworks.Add(network);
            }
        }

        return options;
    }
}
