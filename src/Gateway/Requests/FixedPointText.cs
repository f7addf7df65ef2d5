using System.Globalization;

namespace Gateway.Requests;

/// <summary>
/// Numbers with a fraction written from their integer parts into a caller's buffer, the fraction without trailing zeros
/// ("1.5", "0.000125", "2"): what a custom format such as "0.######" writes, without a decimal, a double or a builder.
/// </summary>
internal static class FixedPointText
{
    // "D1" .. "D6": the fraction's digits, zero-padded on the left, once its trailing zeros are gone.
    private static readonly string[] Padded = ["D0", "D1", "D2", "D3", "D4", "D5", "D6"];

    /// <summary>
    /// Appends <paramref name="whole"/>, then, unless <paramref name="fraction"/> is 0, a point and the fraction as the
    /// <paramref name="places"/> (at most 6) decimals it stands for. Both parts are non-negative.
    /// </summary>
    public static void Append(Span<char> text, ref int at, long whole, long fraction = 0, int places = 0)
    {
        whole.TryFormat(text[at..], out var written, default, CultureInfo.InvariantCulture);
        at += written;
        if (fraction == 0)
        {
            return;
        }

        while (fraction % 10 == 0)
        {
            fraction /= 10;
            places--;
        }

        text[at++] = '.';
        fraction.TryFormat(text[at..], out written, Padded[places], CultureInfo.InvariantCulture);
        at += written;
    }
}
