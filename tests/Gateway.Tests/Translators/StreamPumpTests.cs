using System.Text;
using Gateway.Streaming;
using Gateway.Translators.Contract;
using Gateway.Translators.Providers;
using Gateway.Translators.Translation;
using Gateway.Configuration;

namespace Gateway.Tests.Translators;

/// <summary>The stream pump's clocks: the provider's silence, the client's slowness and the stream's length are told apart.</summary>
public sealed class StreamPumpTests
{
    private static readonly IChatProvider DeepInfra = (IChatProvider)ProviderCatalog.Find("deepinfra")!;

    private static string Chunk(string text) =>
        $$"""data: {"choices":[{"index":0,"delta":{"content":"{{text}}"},"finish_reason":null}]}""" + "\n\n";

    private static MemoryStream Sse(params string[] events) => new(Encoding.UTF8.GetBytes(string.Concat(events)));

    [Fact]
    public async Task SlowClient_IsNotAProviderTimeout()
    {
        var upstream = Sse(Chunk("a"), Chunk("b"), Chunk("c"), "data: [DONE]\n\n");
        var slowClient = new SlowSink(TimeSpan.FromMilliseconds(300));

        var (end, _) = await StreamPump.RunAsync(upstream, DeepInfra, slowClient, new StreamLimits(TimeSpan.FromMilliseconds(100), TimeSpan.FromMinutes(1)),
            TimeProvider.System, CancellationToken.None);

        Assert.Equal(StreamEnd.Completed, end);
        Assert.Equal(3, slowClient.Chunks);
    }

    [Fact]
    public async Task SlowClientFlush_IsNotAProviderTimeout()
    {
        // The client writer holds events and is slow where it sends them on: in the flush before each read.
        var upstream = new GatedStream([Chunk("a"), Chunk("b")], [Chunk("c"), "data: [DONE]\n\n"]);
        upstream.Release();
        var slowClient = new RecordingSink(flushDelay: TimeSpan.FromMilliseconds(300));

        var (end, _) = await StreamPump.RunAsync(upstream, DeepInfra, slowClient, new StreamLimits(TimeSpan.FromMilliseconds(100), TimeSpan.FromMinutes(1)),
            TimeProvider.System, CancellationToken.None);

        Assert.Equal(StreamEnd.Completed, end);
        Assert.Equal(["a", "b", "flush", "c"], slowClient.Log);
    }

    [Fact]
    public async Task EventsOfOneRead_LeaveTogether_BeforeThePumpWaitsForTheProvider()
    {
        // The provider sends two events in one piece, then nothing until the test says so.
        var upstream = new GatedStream([Chunk("a"), Chunk("b")], [Chunk("c"), "data: [DONE]\n\n"]);
        var client = new RecordingSink(flushDelay: TimeSpan.Zero);

        var pump = StreamPump.RunAsync(upstream, DeepInfra, client, new StreamLimits(TimeSpan.FromSeconds(30), TimeSpan.FromMinutes(1)),
            TimeProvider.System, CancellationToken.None);

        // Both events were sent on in one flush while the provider is still silent: nothing is held back waiting for it.
        await client.Flushed.Task.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(["a", "b", "flush"], client.Log);
        upstream.Release();
        var (end, _) = await pump.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(StreamEnd.Completed, end);
        Assert.Equal(["a", "b", "flush", "c"], client.Log);
    }

    [Fact]
    public async Task LivelyButEndlessStream_StopsAtTheTotalLimit()
    {
        var upstream = new DrippingStream(Encoding.UTF8.GetBytes(Chunk("more")), TimeSpan.FromMilliseconds(20));

        var (end, _) = await StreamPump.RunAsync(upstream, DeepInfra, new StreamCollector(), new StreamLimits(TimeSpan.FromSeconds(1), TimeSpan.FromMilliseconds(400)),
            TimeProvider.System, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(StreamEnd.TooLong, end);
    }

    [Fact]
    public async Task CollectedAnswer_IsCappedLikeAWholeAnswer()
    {
        var big = new string('x', 8 * 1024 * 1024);
        var upstream = Sse(Chunk(big), Chunk(big), Chunk(big), Chunk(big), Chunk(big), "data: [DONE]\n\n");

        var (end, _) = await StreamPump.RunAsync(upstream, DeepInfra, new StreamCollector(), new StreamLimits(TimeSpan.FromSeconds(10), TimeSpan.FromMinutes(1)),
            TimeProvider.System, CancellationToken.None);

        Assert.Equal(StreamEnd.TooLarge, end);
    }

    private sealed class SlowSink(TimeSpan perChunk) : IChunkSink
    {
        public int Chunks { get; private set; }

        public bool ClientResponseStarted => Chunks > 0;

        public bool HasUnflushed => false;

        public async ValueTask WriteChunkAsync(ChatCompletionChunk chunk, CancellationToken cancellationToken)
        {
            await Task.Delay(perChunk, cancellationToken);
            Chunks++;
        }

        public ValueTask FlushAsync(CancellationToken cancellationToken) => ValueTask.CompletedTask;
    }

    /// <summary>Holds what it is given, like the client writer, and logs each chunk's text and each flush in order.</summary>
    private sealed class RecordingSink(TimeSpan flushDelay) : IChunkSink
    {
        public List<string> Log { get; } = [];

        public TaskCompletionSource Flushed { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public bool ClientResponseStarted => Log.Count > 0;

        public bool HasUnflushed { get; private set; }

        public ValueTask WriteChunkAsync(ChatCompletionChunk chunk, CancellationToken cancellationToken)
        {
            Log.Add(chunk.Choices![0].Delta!.Content!);
            HasUnflushed = true;
            return ValueTask.CompletedTask;
        }

        public async ValueTask FlushAsync(CancellationToken cancellationToken)
        {
            HasUnflushed = false;
            if (flushDelay > TimeSpan.Zero)
            {
                await Task.Delay(flushDelay, cancellationToken);
            }

            Log.Add("flush");
            Flushed.TrySetResult();
        }
    }

    /// <summary>Gives its first events in one read, then waits for <see cref="Release"/> before giving the rest in one read.</summary>
    private sealed class GatedStream(string[] first, string[] rest) : AsyncReadOnlyStream
    {
        private readonly TaskCompletionSource _gate = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly Queue<byte[]> _reads = new([Encoding.UTF8.GetBytes(string.Concat(first)), Encoding.UTF8.GetBytes(string.Concat(rest))]);
        private int _served;

        public void Release() => _gate.TrySetResult();

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            // As a socket read does: a read started after the reader gave up fails.
            cancellationToken.ThrowIfCancellationRequested();
            if (_served++ == 1)
            {
                await _gate.Task.WaitAsync(cancellationToken);
            }

            if (!_reads.TryDequeue(out var next))
            {
                return 0;
            }

            next.CopyTo(buffer);
            return next.Length;
        }

    }

    /// <summary>Gives the same event again and again, a little apart, forever.</summary>
    private sealed class DrippingStream(byte[] sseEvent, TimeSpan every) : AsyncReadOnlyStream
    {
        private int _offset;

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (_offset == 0)
            {
                await Task.Delay(every, cancellationToken);
            }

            var count = Math.Min(buffer.Length, sseEvent.Length - _offset);
            sseEvent.AsMemory(_offset, count).CopyTo(buffer);
            _offset = (_offset + count) % sseEvent.Length;
            return count;
        }
    }

    /// <summary>An upstream body for these tests: read asynchronously, nothing else.</summary>
    private abstract class AsyncReadOnlyStream : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public abstract override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default);

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
