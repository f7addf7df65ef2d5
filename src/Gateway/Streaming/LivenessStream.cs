namespace Gateway.Streaming;

/// <summary>
/// A read-only view of an upstream body that reports every read that brought bytes: SSE comments
/// (<c>: ping</c>) and partial events show the provider is alive even though the parser yields no event for them.
/// <paramref name="beforeWait"/> runs before each asynchronous read, that is before the reader may wait for the
/// provider: the moment to send on what the events already read produced.
/// </summary>
internal sealed class LivenessStream(Stream inner, Action onBytes, Func<ValueTask>? beforeWait = null) : Stream
{
    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (beforeWait is not null)
        {
            await beforeWait();
        }

        var read = await inner.ReadAsync(buffer, cancellationToken);
        if (read > 0)
        {
            onBytes();
        }

        return read;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count)
    {
        var read = inner.Read(buffer, offset, count);
        if (read > 0)
        {
            onBytes();
        }

        return read;
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
