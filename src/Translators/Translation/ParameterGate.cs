using System.Globalization;
using System.Text.Json;
using Gateway.Translators.Contract;

namespace Gateway.Translators.Translation;

/// <summary>
/// Decides, per parameter, what a provider receives: passed on, clamped into range, dropped
/// (only where that cannot change the answer, or where the deployment opted in), or rejected
/// with a 400 naming it. Never adds a parameter the client did not send.
/// </summary>
public static class ParameterGate
{
    /// <summary>Returns a copy of <paramref name="request"/> holding only what the provider may receive.</summary>
    public static ChatCompletionRequest Apply(ChatCompletionRequest request, ParameterSupport support, DeploymentTarget target,
        out RequestError? error)
    {
        var copy = request.ShallowCopy();
        // One logical limit: providers here take max_tokens; the client may have used the newer name.
        copy.MaxTokens = request.EffectiveMaxTokens;
        copy.MaxCompletionTokens = null;
        copy.Stream = null;
        copy.StreamOptions = null;
        copy.Model = target.UpstreamModel;

        foreach (var p in KnownParameter.All)
        {
            if (!p.IsPresent(copy))
            {
                continue;
            }

            var wireName = p.Name == "max_tokens" ? request.MaxTokensParam : p.Name;
            if (!support.Supports(p.Name))
            {
                var gatewayCap = p.Name == "max_tokens" && request.MaxTokensCapped;
                if (gatewayCap || p.IsDefault(copy) || KnownParameter.Metadata.Contains(p.Name) || target.MayDrop(p.Name) || target.MayDrop(wireName))
                {
                    p.Clear(copy);
                    continue;
                }

                error = RequestError.Unsupported(wireName, target.PublicModel);
                return copy;
            }

            if (support.RangeOf(p.Name) is { } range && p.Number?.Invoke(copy) is { } value && (value < range.Min || value > range.Max))
            {
                if (!range.ClampByDefault && !target.MayClamp(p.Name) && !target.MayClamp(wireName))
                {
                    error = new RequestError(
                        $"Invalid value {Format(value)} for '{wireName}': model '{target.PublicModel}' accepts {Format(range.Min)} to {Format(range.Max)}.",
                        wireName, "invalid_value");
                    return copy;
                }

                p.SetNumber!(copy, Math.Clamp(value, range.Min, range.Max));
            }
        }

        error = FilterUnknownFields(copy, support, target);
        return copy;
    }

    private static RequestError? FilterUnknownFields(ChatCompletionRequest copy, ParameterSupport support, DeploymentTarget target)
    {
        if (copy.ExtensionData is not { Count: > 0 } extra)
        {
            return null;
        }

        Dictionary<string, JsonElement>? passed = null;
        foreach (var (name, value) in extra)
        {
            if (support.Extras.Contains(name) || target.MayPass(name))
            {
                (passed ??= new Dictionary<string, JsonElement>(StringComparer.Ordinal))[name] = value;
            }
            else if (!target.MayDrop(name))
            {
                return RequestError.Unsupported(name, target.PublicModel);
            }
        }

        copy.ExtensionData = passed;
        return null;
    }

    private static string Format(double v) => v.ToString(CultureInfo.InvariantCulture);
}
