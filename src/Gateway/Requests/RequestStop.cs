namespace Gateway.Requests;

/// <summary>Why a request's work was stopped before it ended by itself.</summary>
internal enum StopReason
{
    /// <summary>Not stopped.</summary>
    None,

    /// <summary>The client closed the connection: nothing more can reach it.</summary>
    ClientGone,

    /// <summary>The request's deadline passed (<c>x-gateway-timeout-ms</c> or <c>Routing:DefaultTimeoutSeconds</c>).</summary>
    DeadlineExceeded,

    /// <summary>This replica is stopping and the in-flight grace is over.</summary>
    ServerStopping,
}

/// <summary>
/// One token for everything a request does after admission (the provider call, the cache wait, the relay), cancelled
/// when the client leaves, when the request's deadline passes, or when this replica's shutdown grace is over, and the
/// one place that says which of those it was. The client's own token stays on <c>HttpContext.RequestAborted</c>,
/// untouched, for writing to the client (an answer about a deadline is still written after the stop).
/// </summary>
internal sealed class RequestStop : IDisposable
{
    private readonly CancellationToken _client;
    private readonly CancellationToken _server;
    private readonly CancellationToken _deadline;
    private readonly CancellationTokenSource _linked;

    public RequestStop(CancellationToken client, CancellationToken serverStopping, CancellationToken deadline)
    {
        _client = client;
        _server = serverStopping;
        _deadline = deadline;
        _linked = CancellationTokenSource.CreateLinkedTokenSource(client, serverStopping, deadline);
    }

    public CancellationToken Token => _linked.Token;

    public bool IsStopped => _linked.IsCancellationRequested;

    /// <summary>The first cause that holds, the client's leaving first: nothing can be told to a client that left.</summary>
    public StopReason Reason =>
        !_linked.IsCancellationRequested ? StopReason.None
        : _client.IsCancellationRequested ? StopReason.ClientGone
        : _server.IsCancellationRequested ? StopReason.ServerStopping
        : _deadline.IsCancellationRequested ? StopReason.DeadlineExceeded
        : StopReason.ClientGone;

    public void Dispose() => _linked.Dispose();
}
