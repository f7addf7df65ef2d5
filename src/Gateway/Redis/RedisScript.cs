using System.Security.Cryptography;
using System.Text;
using StackExchange.Redis;

namespace Gateway.Redis;

/// <summary>
/// A Lua script called by its SHA1 (<c>EVALSHA</c>), so the text crosses the wire only when Redis
/// does not know it yet: the first call, or after a restart or <c>SCRIPT FLUSH</c>. Redis then answers
/// <c>NOSCRIPT</c> and the call is repeated once with the text (<c>EVAL</c> also caches it).
/// </summary>
internal sealed class RedisScript
{
    public RedisScript(string name, string text)
    {
        Name = name;
        Text = text;
#pragma warning disable CA5350 // Redis names scripts by SHA1; this is an identifier, not a security measure.
        Sha1 = SHA1.HashData(Encoding.UTF8.GetBytes(text));
#pragma warning restore CA5350
    }

    /// <summary>What the script does, for metrics and logs (e.g. <c>ratelimit.admit</c>).</summary>
    public string Name { get; }

    public string Text { get; }

    public byte[] Sha1 { get; }

    public async Task<RedisResult> EvaluateAsync(IDatabaseAsync database, RedisKey[] keys, RedisValue[] values)
    {
        try
        {
            return await database.ScriptEvaluateAsync(Sha1, keys, values);
        }
        catch (RedisServerException ex) when (ex.Message.StartsWith("NOSCRIPT", StringComparison.Ordinal))
        {
            return await database.ScriptEvaluateAsync(Text, keys, values);
        }
    }

    public override string ToString() => Name;
}
