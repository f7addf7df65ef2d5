using System.Text;

namespace Gateway.Tests.Translators;

/// <summary>
/// Golden files under Fixtures/. Run with <c>UPDATE_GOLDEN=1</c> to rewrite the expected outputs
/// in the source tree after a deliberate change, then review the diff.
/// </summary>
internal static class GoldenFixtures
{
    private static readonly string OutputRoot = System.IO.Path.Combine(AppContext.BaseDirectory, "Fixtures");

    public static string Path(string relative) => System.IO.Path.Combine(OutputRoot, relative);

    public static byte[] Read(string relative) => File.ReadAllBytes(Path(relative));

    public static IEnumerable<string> Names(string folder, string extension) =>
        Directory.GetFiles(Path(folder), "*" + extension).Select(f => System.IO.Path.GetFileNameWithoutExtension(f)!).Order();

    public static void AssertMatches(string relative, string actual)
    {
        if (Environment.GetEnvironmentVariable("UPDATE_GOLDEN") == "1")
        {
            File.WriteAllText(System.IO.Path.Combine(SourceRoot(), relative), actual, new UTF8Encoding(false));
            return;
        }

        Assert.True(File.Exists(Path(relative)), $"golden file {relative} is missing; run the tests with UPDATE_GOLDEN=1 and review it");
        Assert.Equal(File.ReadAllText(Path(relative)), actual);
    }

    private static string SourceRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(System.IO.Path.Combine(dir.FullName, "Gateway.Tests.csproj")))
        {
            dir = dir.Parent;
        }

        return System.IO.Path.Combine(dir!.FullName, "Fixtures");
    }
}

/// <summary>A stream that hands out its bytes in the pieces given, as a network would.</summary>
internal sealed class SegmentedStream(byte[] data, IReadOnlyList<int> cuts) : Stream
{
    private int _position;
    private int _nextCut;

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => data.Length;
    public override long Position { get => _position; set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        while (_nextCut < cuts.Count && cuts[_nextCut] <= _position)
        {
            _nextCut++;
        }

        var end = _nextCut < cuts.Count ? cuts[_nextCut] : data.Length;
        var n = Math.Min(buffer.Length, end - _position);
        data.AsSpan(_position, n).CopyTo(buffer);
        _position += n;
        return n;
    }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(Read(buffer.Span));

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        Task.FromResult(Read(buffer.AsSpan(offset, count)));

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
