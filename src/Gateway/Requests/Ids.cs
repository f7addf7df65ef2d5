using System.Security.Cryptography;

namespace Gateway.Requests;

/// <summary>
/// Random identifiers from the OS CSPRNG, drawn from a per-thread block so a request does not pay
/// one system call per id (request, record and completion ids on every request).
/// </summary>
internal static class Ids
{
    private const int BlockSize = 4096;

    [ThreadStatic]
    private static byte[]? t_block;

    [ThreadStatic]
    private static int t_used;

    /// <summary>Lower-case hex of <paramref name="bytes"/> random bytes, after <paramref name="prefix"/>.</summary>
    public static string New(string prefix, int bytes)
    {
        var block = t_block ??= new byte[BlockSize];
        if (t_used == 0 || t_used + bytes > BlockSize)
        {
            RandomNumberGenerator.Fill(block);
            t_used = 0;
        }

        var id = string.Create(prefix.Length + (bytes * 2), (prefix, block, t_used, bytes), static (span, s) =>
        {
            s.prefix.AsSpan().CopyTo(span);
            Convert.TryToHexStringLower(s.block.AsSpan(s.t_used, s.bytes), span[s.prefix.Length..], out _);
        });
        // Used bytes are wiped so they can never be handed out twice.
        Array.Clear(block, t_used, bytes);
        t_used += bytes;
        return id;
    }
}
