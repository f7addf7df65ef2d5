using System.Globalization;
using Gateway.Requests;

namespace Gateway.Tests.Requests;

/// <summary>Money.Usd writes dollars from integer parts: it must read exactly as the decimal format "0.######" does.</summary>
public sealed class MoneyTests
{
    [Theory]
    [InlineData(0L, "0")]
    [InlineData(1L, "0.000001")]
    [InlineData(10L, "0.00001")]
    [InlineData(125L, "0.000125")]
    [InlineData(999_999L, "0.999999")]
    [InlineData(1_000_000L, "1")]
    [InlineData(1_000_001L, "1.000001")]
    [InlineData(1_500_000L, "1.5")]
    [InlineData(123_456_789L, "123.456789")]
    [InlineData(long.MaxValue, "9223372036854.775807")]
    [InlineData(-1_500_000L, "-1.5")]
    public void Usd_WritesDollarsWithoutTrailingZeros(long micros, string expected) => Assert.Equal(expected, Money.Usd(micros));

    [Fact]
    public void Usd_AgreesWithTheDecimalFormat()
    {
        var random = new Random(23);
        for (var i = 0; i < 20_000; i++)
        {
            // Every magnitude, and round numbers (trailing zeros) as often as not.
            var micros = random.NextInt64(0, (long)Math.Pow(10, random.Next(1, 16)));
            micros -= random.Next(2) == 0 ? micros % (long)Math.Pow(10, random.Next(0, 7)) : 0;
            Assert.Equal((micros / 1_000_000m).ToString("0.######", CultureInfo.InvariantCulture), Money.Usd(micros));
        }
    }
}
