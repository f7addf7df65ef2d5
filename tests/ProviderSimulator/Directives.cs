using System.Globalization;
using System.Text.RegularExpressions;

namespace ProviderSimulator;

/// <summary>
/// Fault knobs. Per request they ride in the prompt as <c>[sim key=value ...]</c> (so they pass
/// through any gateway translation); per run they are set with <c>POST /_sim/faults</c>.
/// Knobs: latency_ms, status, error_message, body (native|html|malformed|empty), retry_after,
/// malformed, truncate_after, chunk_delay_ms, ping_every_ms, reset, no_usage, words, finish, error_event_after,
/// sse_for_json, only (a provider name the knobs are limited to).
/// </summary>
public sealed partial class Directives
{
    private readonly Dictionary<string, string> _values;

    private Directives(Dictionary<string, string> values) => _values = values;

    public static readonly Directives None = new([]);

    public static Directives Parse(string? text)
    {
        var values = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        if (string.IsNullOrEmpty(text))
        {
            return new Directives(values);
        }

        foreach (Match block in Block().Matches(text))
        {
            foreach (Match pair in Pair().Matches(block.Groups[1].Value))
            {
                var value = pair.Groups[2].Success ? pair.Groups[2].Value : pair.Groups[3].Value;
                values[pair.Groups[1].Value] = value;
            }
        }

        return new Directives(values);
    }

    /// <summary>The prompt without its directive blocks.</summary>
    public static string Strip(string text) => Block().Replace(text, "").Trim();

    /// <summary>Per-request knobs win over per-run ones.</summary>
    public Directives Over(Directives fallback)
    {
        var merged = new Dictionary<string, string>(fallback._values, StringComparer.OrdinalIgnoreCase);
        foreach (var (k, v) in _values)
        {
            merged[k] = v;
        }

        return new Directives(merged);
    }

    /// <summary>Drops the knobs when they are limited (<c>only=</c>) to another provider.</summary>
    public Directives For(string provider) =>
        _values.TryGetValue("only", out var only) && !only.Split(',').Contains(provider, StringComparer.OrdinalIgnoreCase) ? None : this;

    public string? Text(string key) => _values.GetValueOrDefault(key);

    public int? Int(string key) => int.TryParse(Text(key), NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v : null;

    public bool Flag(string key) => Text(key) is "1" or "true" or "yes";

    [GeneratedRegex(@"\[sim\s+([^\]]*)\]", RegexOptions.IgnoreCase)]
    private static partial Regex Block();

    [GeneratedRegex("""([a-z_]+)=(?:"([^"]*)"|(\S+))""", RegexOptions.IgnoreCase)]
    private static partial Regex Pair();
}
