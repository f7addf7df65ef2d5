using System.Globalization;

namespace Gateway.Requests;

/// <summary>Micro-dollars shown as USD without going through floating point.</summary>
internal static class Money
{
    public static string Usd(long micros) => (micros / 1_000_000m).ToString("0.######", CultureInfo.InvariantCulture);
}
