using System.Globalization;
using System.Text.Json;
using Gateway.Translators.Contract;

namespace Gateway.Translators.Translation;

/// <summary>
/// Decides, per parameter, what a provider receives. A documented parameter is passed on, clamped into its documented
/// range where that keeps its meaning (or the deployment opts in), or rejected with a 400 naming it. An undocumented one
/// goes only where the deployment passes it (sent as it is: the provider judges its value), is dropped where the
/// deployment says so, and is otherwise refused. Parameters at their OpenAI default and metadata (<c>user</c>) are
/// dropped silently where undocumented. Never adds a parameter the client did not send (the gateway's own
/// <c>max_tokens</c> cap is dropped where the provider does not document it).
/// </summary>
public static class ParameterGate
{
    /// <summary>
    /// The parameters the client sent that this deployment leaves out by the operator's decision (<c>DropParameters</c>,
    /// <c>Undocumented: drop</c>), by the names the client used: the answer says so (<c>x-gateway-dropped-parameters</c>),
    /// so a client can tell that, say, its <c>max_tokens</c> was not applied. Parameters at their OpenAI default, metadata
    /// (<c>user</c>) and the gateway's own cap change nothing in the answer and are not listed.
    /// </summary>
    public static IReadOnlyList<string> Dropped(ChatCompletionRequest request, ParameterSupport support, DeploymentTarget target)
    {
        // A deployment that drops nothing (most of them) costs no second pass over the request.
        if (target.DropParameters.Count == 0 && target.Undocumented != UndocumentedPolicy.Drop)
        {
            return [];
        }

        var dropped = new List<string>();
        Apply(request, support, target, out _, dropped);
        return dropped;
    }

    /// <summary>Returns a copy of <paramref name="request"/> holding only what the provider may receive.</summary>
    /// <param name="dropped">When given, receives the names of what the deployment's policy left out (<see cref="Dropped"/>).</param>
    public static ChatCompletionRequest Apply(ChatCompletionRequest request, ParameterSupport support, DeploymentTarget target,
        out RequestError? error, ICollection<string>? dropped = null)
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
            if (!support.IsDocumented(p.Name))
            {
                var gatewayCap = p.Name == "max_tokens" && request.MaxTokensCapped;
                // Named by its OpenAI name or by the name the client used (max_completion_tokens).
                var decision = target.Decide(p.Name);
                if (decision == target.Undocumented)
                {
                    decision = target.Decide(wireName);
                }

                if (gatewayCap || p.IsDefault(copy) || KnownParameter.Metadata.Contains(p.Name))
                {
                    p.Clear(copy);
                }
                else if (decision == UndocumentedPolicy.Drop)
                {
                    p.Clear(copy);
                    dropped?.Add(wireName);
                }
                else if (decision == UndocumentedPolicy.Reject)
                {
                    error = RequestError.Undocumented(wireName, target.PublicModel);
                    return copy;
                }

                // Passed on the deployment's word: no range the provider never gave is applied.

                continue;
            }

            if (support.RangeOf(p.Name) is { } range && p.Number?.Invoke(copy) is { } value && !range.Contains(value))
            {
                if (!range.ClampByDefault && !target.MayClamp(p.Name) && !target.MayClamp(wireName))
                {
                    error = new RequestError(
                        $"Invalid value {Format(value)} for '{wireName}': model '{target.PublicModel}' accepts {range.Describe()}.",
                        wireName, "invalid_value");
                    return copy;
                }

                p.SetNumber!(copy, Clamp(value, range));
            }
        }

        error = FilterUnknownFields(copy, support, target, dropped);
        return copy;
    }

    private static double Clamp(double value, ParameterRange range)
    {
        if (value > range.Max)
        {
            return range.Max;
        }

        // An exclusive minimum has no nearest value; the smallest step above it that the provider can take.
        return range.MinExclusive ? Math.Max(value, range.Min + 0.001) : Math.Max(value, range.Min);
    }

    private static RequestError? FilterUnknownFields(ChatCompletionRequest copy, ParameterSupport support, DeploymentTarget target,
        ICollection<string>? dropped)
    {
        if (copy.ExtensionData is not { Count: > 0 } extra)
        {
            return null;
        }

        Dictionary<string, JsonElement>? passed = null;
        foreach (var (name, value) in extra)
        {
            var decision = support.Extras.Contains(name) ? UndocumentedPolicy.Pass : target.Decide(name);
            if (decision == UndocumentedPolicy.Pass)
            {
                (passed ??= new Dictionary<string, JsonElement>(StringComparer.Ordinal))[name] = value;
            }
            else if (decision == UndocumentedPolicy.Reject)
            {
                return RequestError.Undocumented(name, target.PublicModel);
            }
            else
            {
                dropped?.Add(name);
            }
        }

        copy.ExtensionData = passed;
        return null;
    }

    private static string Format(double v) => v.ToString(CultureInfo.InvariantCulture);
}
