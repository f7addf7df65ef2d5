using System.Globalization;
using System.Text.RegularExpressions;

namespace ProviderSimulator;

/// <summary>
/// Fault knobs. Per request they ride in the prompt as <c>[sim key=value ...]</c> (so they pass
/// through any gateway translation); per run they are set with <c>POST /_sim/faults</c>. Each block stands alone:
/// its <c>only</c> and <c>only_model</c> limit that block, so one prompt can fault providers or models differently.
/// Knobs: latency_ms, status, error_message, body (native|html|malformed|empty), retry_after,
/// malformed, truncate_after, chunk_delay_ms, ping_every_ms, ping_hold (with pings=N), reset, no_usage, words, finish, error_event_after,
/// sse_for_json, only (a provider name the knobs are limited to), only_model (an upstream model id or Segmind slug),
/// fail_first=N (the faults apply to the first N attempts of one x-request-id at one provider only; later ones answer).
/// </summary>
public sealed partial class Directives
{
    // Each [sim ...] block on its own: a block's only= / only_model= limit that block alone, so one prompt can give each
    // provider or model its own faults. Later blocks win where they set the same knob.
    private readonly List<Dictionary<string, string>> _blocks;

    private Directives(List<Dictionary<string, string>> blocks) => _blocks = blocks;

    public static readonly Directives None = new([]);

    public static Directives Parse(string? text)
    {
        var blocks = new List<Dictionary<string, string>>();
        if (string.IsNullOrEmpty(text))
        {
            return new Directives(blocks);
        }

        foreach (Match block in Block().Matches(text))
        {
            var values = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            foreach (Match pair in Pair().Matches(block.Groups[1].Value))
            {
                var value = pair.Groups[2].Success ? pair.Groups[2].Value : pair.Groups[3].Value;
                values[pair.Groups[1].Value] = value;
            }

            blocks.Add(values);
        }

        return new Directives(blocks);
    }

    /// <summary>The prompt without its directive blocks.</summary>
    public static string Strip(string text) => Block().Replace(text, "").Trim();

    /// <summary>Per-request knobs win over per-run ones.</summary>
    public Directives Over(Directives fallback) => new([.. fallback._blocks, .. _blocks]);

    /// <summary>Drops the blocks limited (<c>only=</c>) to another provider.</summary>
    public Directives For(string provider) => Where("only", value => value.Split(',').Contains(provider, StringComparer.OrdinalIgnoreCase));

    /// <summary>Drops the knobs when they are limited (<c>only_model=</c>) to another upstream model (or Segmind slug).</summary>
    public Directives ForModel(string? model) => Where("only_model", value => value.Split(',').Contains(model ?? "", StringComparer.Ordinal));

    private Directives Where(string limit, Func<string, bool> matches) =>
        new([.. _blocks.Where(b => !b.TryGetValue(limit, out var value) || matches(value))]);

    private static readonly string[] FaultKnobs =
    [
        "latency_ms", "status", "error_message", "body", "retry_after", "malformed", "truncate_after", "chunk_delay_ms", "ping_every_ms",
        "ping_hold", "reset", "error_event_after", "sse_for_json", "callback", "never_finish",
    ];

    /// <summary>With <c>fail_first=N</c>, attempt N+1 and later of the same request get no faults: a provider that recovers.</summary>
    public Directives AfterFailures(int attempt)
    {
        if (Int("fail_first") is not { } failures || attempt <= failures)
        {
            return this;
        }

        return new([.. _blocks.Select(b => b.Where(kv => !FaultKnobs.Contains(kv.Key, StringComparer.OrdinalIgnoreCase))
            .ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.OrdinalIgnoreCase))]);
    }

    public string? Text(string key)
    {
        for (var i = _blocks.Count - 1; i >= 0; i--)
        {
            if (_blocks[i].TryGetValue(key, out var value))
            {
                return value;
            }
        }

        return null;
    }

    public int? Int(string key) => int.TryParse(Text(key), NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v : null;

    public bool Flag(string key) => Text(key) is "1" or "true" or "yes";

    [GeneratedRegex(@"\[sim\s+([^\]]*)\]", RegexOptions.IgnoreCase)]
    private static partial Regex Block();

    [GeneratedRegex("""([a-z_]+)=(?:"([^"]*)"|(\S+))""", RegexOptions.IgnoreCase)]
    private static partial Regex Pair();
}
