using Gateway.Translators.Providers.DeepInfra;
using Gateway.Translators.Providers.HiveV2;
using Gateway.Translators.Providers.HiveV3;
using Gateway.Translators.Providers.Segmind;
using Gateway.Translators.Translation;

namespace Gateway.Translators.Providers;

/// <summary>The provider kinds gateway.json may name. Adding a provider adds one line here and one folder.</summary>
public static class ProviderCatalog
{
    private static readonly Dictionary<string, IProvider> ByKind = new IProvider[]
    {
        new HiveV3Provider(),
        new HiveV2Provider(),
        new DeepInfraProvider(),
        new SegmindProvider(),
    }.ToDictionary(p => p.Kind, StringComparer.OrdinalIgnoreCase);

    public static IReadOnlyCollection<string> Kinds => ByKind.Keys;

    public static IProvider? Find(string? kind) => kind is not null && ByKind.TryGetValue(kind, out var p) ? p : null;
}
