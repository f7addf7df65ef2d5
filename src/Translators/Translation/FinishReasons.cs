namespace Gateway.Translators.Translation;

/// <summary>
/// Maps the finish reasons providers use onto OpenAI's (<c>stop</c>, <c>length</c>,
/// <c>tool_calls</c>, <c>content_filter</c>). Unknown values pass through unchanged: the set is open.
/// </summary>
public static class FinishReasons
{
    public static string Normalize(string reason) => reason switch
    {
        "stop" or "length" or "tool_calls" or "content_filter" or "function_call" => reason,
        "eos" or "eos_token" or "end_turn" or "stop_sequence" or "finish" or "finished" or "end" or "complete" => "stop",
        "max_tokens" or "max_length" or "max_new_tokens" or "token_limit" => "length",
        "tool_use" or "tool_call" => "tool_calls",
        "safety" or "content_filtered" or "moderation" => "content_filter",
        _ => reason,
    };
}
