using Gateway.Requests;

namespace Gateway.Tests.Requests;

/// <summary>The one place that says why a request's work stopped: the client's leaving wins, since nothing can be told to it.</summary>
public sealed class RequestStopTests
{
    [Theory]
    [InlineData(false, false, false, "None")]
    [InlineData(true, false, false, "ClientGone")]
    [InlineData(false, true, false, "ServerStopping")]
    [InlineData(false, false, true, "DeadlineExceeded")]
    [InlineData(true, true, true, "ClientGone")]
    [InlineData(false, true, true, "ServerStopping")]
    public void Reason_IsTheFirstCauseThatHolds(bool client, bool server, bool deadline, string expected)
    {
        using CancellationTokenSource c = new(), s = new(), d = new();
        using var stop = new RequestStop(c.Token, s.Token, d.Token);
        if (client) c.Cancel();
        if (server) s.Cancel();
        if (deadline) d.Cancel();

        // (By name: the enum is internal to the gateway, and a theory's parameters are public.)
        Assert.Equal(expected, stop.Reason.ToString());
        Assert.Equal(expected != nameof(StopReason.None), stop.Token.IsCancellationRequested);
    }
}
