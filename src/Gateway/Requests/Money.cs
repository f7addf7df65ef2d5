using System.Globalization;

namespace Gateway.Requests;

/// <summary>Micro-dollars shown as USD without going through floating point.</summary>
internal static class Money
{
    // "D1" .. "D6": the fraction's digits, zero-padded on the left, once its trailing zeros are gone.
    private static readonly string[] FractionFormats = ["D0", "D1", "D2", "D3", "D4", "D5", "D6"];

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

        var whole = Math.DivRem(micros, 1_000_000, out var fraction);
        if (fraction == 0)
        {
            return whole.ToString(CultureInfo.InvariantCulture);
        }

        var digits = 6;
        while (fraction % 10 == 0)
        {
            fraction /= 10;
            digits--;
        }

        Span<char> text = stackalloc char[32];
        whole.TryFormat(text, out var length, default, CultureInfo.InvariantCulture);
        text[length++] = '.';
        fraction.TryFormat(text[length..], out var written, FractionFormats[digits], CultureInfo.InvariantCulture);
        return new string(text[..(length + written)]);
    }
}
