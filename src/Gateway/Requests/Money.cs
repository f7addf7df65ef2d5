using System.Globalization;

namespace Gateway.Requests;

/// <summary>Micro-dollars shown as USD without going through floating point.</summary>
internal static class Money
{
    /// <summary>
    /// The amount in dollars with up to six decimals and no trailing zeros ("0.000125", "2", "1.5"), as the format
    /// "0.######" writes it. Written from the two integer parts: it runs twice per request (the cost header and the access
    /// log), and a decimal division with a custom format cost ten times as much.
    /// </summary>
    public static string Usd(long micros)
    {
        if (micros < 0)
        {
            return (micros / 1_000_000m).ToString("0.######", CultureInfo.InvariantCulture);
        }

        Span<char> text = stackalloc char[32];
        var at = 0;
        FixedPointText.Append(text, ref at, micros / 1_000_000, micros % 1_000_000, 6);
        return new string(text[..at]);
    }
}
