using System.Globalization;

namespace Gateway.Requests;

/// <summary>
/// A usage record's identity: this process's random prefix (16 hex digits, drawn at start) and a sequence number of at
/// least three digits, "<c>3f9c0a7d51e2b846-1234</c>". Unique across processes by the prefix, within one by the number.
/// Ids in this form fall in buckets of 100 (all but the last two digits): the Redis store keeps a bucket's seen markers
/// as the bits of one 13-byte bitmap, where one key per record cost ~140 bytes of Redis memory for 7 days. Ids of releases
/// before this one are 32 hex digits with no dash, and keep a marker key each (<see cref="Bucket"/> answers false).
/// Never shown to a client, so the sequence tells no key how busy the others are.
/// </summary>
internal static class RecordIds
{
    private const int PrefixLength = 16;

    private static readonly string Prefix = Ids.New("", PrefixLength / 2) + "-";

    // The first id is number 100, so every id has at least three digits and its bucket is never empty.
    private static long s_last = 99;

    public static string New()
    {
        var n = Interlocked.Increment(ref s_last);
        return string.Create(CultureInfo.InvariantCulture, $"{Prefix}{n}");
    }

    /// <summary>
    /// An id in this form is its bucket (all but the last two characters) and its place in it (0 to 99, the last two
    /// digits); an id of an earlier release, or anything else, has no bucket (and place -1).
    /// </summary>
    public static bool Bucket(string id, out string bucket, out int place)
    {
        if (id.Length >= PrefixLength + 4 && id[PrefixLength] == '-' && char.IsAsciiDigit(id[^1]) && char.IsAsciiDigit(id[^2]))
        {
            (bucket, place) = (id[..^2], ((id[^2] - '0') * 10) + (id[^1] - '0'));
            return true;
        }

        (bucket, place) = ("", -1);
        return false;
    }
}
