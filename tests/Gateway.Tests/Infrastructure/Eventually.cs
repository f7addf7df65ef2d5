namespace Gateway.Tests.Infrastructure;

/// <summary>Polls a condition with a deadline, so a hang fails the test instead of stalling the run.</summary>
public static class Eventually
{
    public static async Task TrueAsync(Func<Task<bool>> condition, TimeSpan? patience = null, string? because = null)
    {
        var deadline = DateTime.UtcNow + (patience ?? TimeSpan.FromSeconds(15));
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, because ?? "condition not met in time");
            await Task.Delay(100);
        }
    }
}

/// <summary>A provider simulator and a redis-server of the test class's own.</summary>
public abstract class SimulatorAndRedisTests : IAsyncLifetime
{
    protected SimulatorHost Simulator { get; private set; } = null!;
    protected RedisServer Redis { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Simulator = await SimulatorHost.StartAsync();
        Redis = await RedisServer.StartAsync();
    }

    public async Task DisposeAsync()
    {
        await Simulator.DisposeAsync();
        await Redis.DisposeAsync();
    }
}
