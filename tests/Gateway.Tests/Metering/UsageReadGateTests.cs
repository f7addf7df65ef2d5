using Gateway.Configuration;
using Gateway.Metering;

namespace Gateway.Tests.Metering;

/// <summary>The usage reads' gate on its own: one read at a time per key (admins excepted), a few per replica.</summary>
public sealed class UsageReadGateTests
{
    private static ClientKey Key(string name, bool admin = false) =>
        new(name, System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(name)), new HashSet<string> { "*" }) { IsAdmin = admin };

    [Fact]
    public async Task OneReadPerKey_AFewPerReplica_AdminsNotLimitedPerKey()
    {
        var gate = new UsageReadGate();
        var alice = Key("alice");
        var first = await gate.EnterAsync(alice, CancellationToken.None);
        Assert.NotNull(first);
        // Alice's second read while the first runs is refused at once.
        Assert.Null(await gate.EnterAsync(alice, CancellationToken.None));

        // An admin may run a second read beside it: the replica's two slots are now taken.
        var admin = Key("ops", admin: true);
        var second = await gate.EnterAsync(admin, CancellationToken.None);
        Assert.NotNull(second);

        // A third read waits for a slot (here until it is cancelled), and leaves nothing held behind.
        using var soon = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => gate.EnterAsync(Key("bob"), soon.Token));

        first!.Dispose();
        first.Dispose(); // twice is harmless
        var bob = await gate.EnterAsync(Key("bob"), CancellationToken.None);
        Assert.NotNull(bob);
        second!.Dispose();
        Assert.NotNull(await gate.EnterAsync(alice, CancellationToken.None));
    }
}
