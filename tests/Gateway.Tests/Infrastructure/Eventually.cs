namespace Gateway.Tests.Infrastructure;

/// <summary>Polls a condition with a deadline, so a hang fails the test instead of stalling the run.</summary>
public static class Eventually
{
    public static Task TrueAsync(Func<Task<bool>> condition, TimeSpan? patience = null, string? because = null) =>
        TrueAsync(condition, patience, () => because ?? "condition not met in time");

    /// <summary>
    /// As above, the failure's message made when the deadline passes: a message naming what the condition last saw must
    /// be built then, not when the wait starts (an interpolated string would show the values before the first poll).
    /// </summary>
    public static async Task TrueAsync(Func<Task<bool>> condition, TimeSpan? patience, Func<string> because)
    {
        var deadline = DateTime.UtcNow + (patience ?? TimeSpan.FromSeconds(15));
        while (!await condition())
        {
            if (DateTime.UtcNow >= deadline)
            {
                Assert.Fail(because());
            }

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
