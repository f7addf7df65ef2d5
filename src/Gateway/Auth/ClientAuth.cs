using System.Collections.Concurrent;
using System.Net;
using Gateway.Configuration;
using Gateway.Errors;

namespace Gateway.Auth;

/// <summary>
/// Checks client keys (for <see cref="ClientKeyAuthenticationHandler"/>), and slows down addresses that keep presenting wrong ones: after
/// <c>Server:AuthFailuresPerMinute</c> failures within a minute, a wrong key from that address gets 429 instead of 401
/// until the minute has passed. A valid key is always let in: keys are long random secrets, so what the throttle
/// protects is the gateway's time and records from a flood of wrong ones, never the keys from guessing, and an address
/// (a shared NAT, a proxy, a forged X-Forwarded-For) must not let one caller lock out another.
/// The table of addresses is bounded; the client address is the one ASP.NET resolved (trusted proxies only).
/// </summary>
internal sealed class ClientAuth(IKeyDirectory runtime, TimeProvider clock)
{
    private const int MaxTrackedAddresses = 100_000;
    private static readonly TimeSpan Window = TimeSpan.FromMinutes(1);
    private readonly ConcurrentDictionary<IPAddress, Failures> _failures = new();

    public ClientKey? Authenticate(HttpContext context, GatewaySnapshot snapshot, out GatewayError? error)
    {
        // The key is looked at first: a valid key is never refused because of what others sent from its address (behind
        // a shared proxy or NAT, or forged into X-Forwarded-For by a neighbour, the address is not the caller's alone).
        var key = ClientKeyAuthenticator.Authenticate(context.Request, snapshot, runtime, out error);
        var limit = snapshot.Server.AuthFailuresPerMinute;
        var address = context.Connection.RemoteIpAddress;
        if (key is not null || limit <= 0 || address is null)
        {
            return key;
        }

        var now = clock.GetUtcNow();
        if (_failures.TryGetValue(address, out var seen) && seen.Count >= limit && now - seen.Since < Window)
        {
            error = new GatewayError(429, "requests", "Too many failed authentication attempts from this address; retry later.",
                Code: "too_many_authentication_failures") { RetryAfter = seen.Since + Window - now };
            return null;
        }

        Count(address, now);
        return null;
    }

    private void Count(IPAddress address, DateTimeOffset now)
    {
        if (_failures.Count >= MaxTrackedAddresses)
        {
            // Bounded: forget the addresses whose minute is over; if all are fresh, forget all (a flood from everywhere).
            foreach (var (ip, f) in _failures)
            {
                if (now - f.Since >= Window)
                {
                    _failures.TryRemove(ip, out _);
                }
            }

            if (_failures.Count >= MaxTrackedAddresses)
            {
                _failures.Clear();
            }
        }

        _failures.AddOrUpdate(address, _ => new Failures(now, 1),
            (_, f) => now - f.Since >= Window ? new Failures(now, 1) : f with { Count = f.Count + 1 });
    }

    private sealed record Failures(DateTimeOffset Since, int Count);
}
