using System.Text;
using Gateway.RateLimiting;
using Gateway.Redis;
using StackExchange.Redis;

namespace Gateway.Tests.RateLimiting;

/// <summary>
/// A scope's keys are made once and held as bytes (RedisScope): they must be, byte for byte, the UTF-8 of the names the
/// engine always gave them as strings, or a rolling upgrade would count one key's requests under two names.
/// </summary>
public sealed class RedisScopeTests
{
    private static string Text(RedisKey key) => Encoding.UTF8.GetString((byte[])key!);

    [Theory]
    [InlineData("3f9a", "p:rl:{k:3f9a}:")]
    [InlineData("t:\u00e9quipe-\u6a21", "p:rl:{t:\u00e9quipe-\u6a21}:")]
    public void KeysAreTheUtf8OfTheNamesAlwaysUsed(string scope, string prefix)
    {
        var keys = new RedisScope(new RedisStore(null!, "p:"), scope);

        Assert.Equal(prefix + "w2:rpm", Text(keys.Window("rpm")));
        Assert.Equal(prefix + "rpm", Text(keys.Counter("rpm")));
        Assert.Equal(prefix + "conc", Text(keys.Counter("conc")));
        Assert.Equal(prefix + "open2", Text(keys.Open));
        Assert.Equal(prefix + "open", Text(keys.EarlierOpen));
        Assert.Equal(prefix + "res:r\u00fcck.1", Text(keys.Reservation("r\u00fcck.1")));
        Assert.Equal(Encoding.UTF8.GetBytes(prefix + "res:a-1"), (byte[])keys.Reservation("a-1")!);
    }

    [Fact]
    public void EachKeyIsMadeOnce_AndAWindowIsNotItsCounter()
    {
        var keys = new RedisScope(new RedisStore(null!, "p:"), "k1");

        Assert.Same((byte[])keys.Window("tpm")!, (byte[])keys.Window("tpm")!);
        Assert.NotEqual(Text(keys.Window("tpm")), Text(keys.Counter("tpm")));
    }
}
