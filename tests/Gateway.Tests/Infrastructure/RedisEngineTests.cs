using Gateway.Configuration;
using Gateway.Redis;
using Microsoft.Extensions.Logging.Abstractions;
using StackExchange.Redis;

namespace Gateway.Tests.Infrastructure;

/// <summary>A redis-server of the test class's own and the gateway's own connection to it, for tests of an engine alone.</summary>
public abstract class RedisEngineTests : IAsyncLifetime
{
    // The scripts are checked for what they decide, not for speed: a busy CI host's first script load may take a second.
    protected const int TestTimeoutMs = 10_000;

    protected RedisServer Redis { get; private set; } = null!;
    protected IConnectionMultiplexer Connection { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Redis = await RedisServer.StartAsync();
        Connection = RedisConnection.Connect(new RedisOptions { Configuration = Redis.Configuration, CommandTimeoutMilliseconds = TestTimeoutMs }, NullLogger.Instance);
    }

    public async Task DisposeAsync()
    {
        Connection.Dispose();
        await Redis.DisposeAsync();
    }
}
