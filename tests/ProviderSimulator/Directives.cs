using System.Globalization;
using System.Text.RegularExpressions;

namespace ProviderSimulator;

/// <summary>
/// Fault knobs. Per request they ride in the prompt as <c>[sim key=value ...]</c> (so they pass
/// through any gateway translation); per run they are set with <c>POST /_sim/faults</c>.
/// Knobs: latency_ms, status, error_message, body (native|html|malformed|empty), retry_after,
/// malformed, truncate_after, chunk_delay_ms, ping_every_ms, reset, no_usage, words, finish, error_event_after,
/// sse_for_json, only (a provider name the knobs are limited to), only_model (an upstream model id or Segmind slug),
/// fail_first=N (the faults apply to the first N attempts of one x-request-id at one provider only; later ones answer).
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

    /// <summary>Drops the knobs when they are limited (<c>only_model=</c>) to another upstream model (or Segmind slug).</summary>
    public Directives ForModel(string? model) =>
        _values.TryGetValue("only_model", out var only) && !only.Split(',').Contains(model ?? "", StringComparer.Ordinal) ? None : this;

    private static readonly string[] FaultKnobs =
    [
        "latency_ms", "status", "error_message", "body", "retry_after", "malformed", "truncate_after", "chunk_delay_ms", "ping_every_ms",
        "reset", "error_event_after", "sse_for_json", "callback", "never_finish",
    ];

    /// <summary>With <c>fail_first=N</c>, attempt N+1 and later of the same request get no faults: a provider that recovers.</summary>
    public Directives AfterFailures(int attempt)
    {
        if (Int("fail_first") is not { } failures || attempt <= failures)
        {
            return this;
        }

        var healthy = new Dictionary<string, string>(_values, StringComparer.OrdinalIgnoreCase);
        foreach (var knob in FaultKnobs)
        {
            healthy.Remove(knob);
        }

        return new Directives(healthy);
    }

    public string? Text(string key) => _values.GetValueOrDefault(key);

    public int? Int(string key) => int.TryParse(Text(key), NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v : null;

    public bool Flag(string key) => Text(key) is "1" or "true" or "yes";

    [GeneratedRegex(@"\[sim\s+([^\]]*)\]", RegexOptions.IgnoreCase)]
    private static partial Regex Block();

    [GeneratedRegex("""([a-z_]+)=(?:"([^"]*)"|(\S+))""", RegexOptions.IgnoreCase)]
    private static partial Regex Pair();
}
