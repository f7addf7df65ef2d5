using System.Security.Cryptography;
using System.Text;

namespace ProviderSimulator.Providers;

/// <summary>
/// The request flow shared by the OpenAI-shaped providers: log, knobs, auth, validation, then a
/// JSON answer or a stream. Each provider supplies its auth scheme, error shapes, limits and stream style.
/// </summary>
public abstract class OpenAiLikeProvider(RequestLog log, Func<Directives> runFaults, bool acceptUndocumented)
{
    public abstract string Name { get; }

    /// <summary>The top-level fields the provider's document lists (seeds), plus those its own docs confirm ([C]).</summary>
    protected abstract IReadOnlySet<string> DocumentedFields { get; }

    /// <summary>The fields of a message the provider documents (strict mode refuses others, at every level).</summary>
    protected virtual IReadOnlySet<string> DocumentedMessageFields { get; } = new HashSet<string>(StringComparer.Ordinal) { "role", "content" };

    /// <summary>The fields of a content part the provider documents: text parts only, in every seed here.</summary>
    protected virtual IReadOnlySet<string> DocumentedPartFields { get; } = new HashSet<string>(StringComparer.Ordinal) { "type", "text" };

    /// <summary>How the provider refuses a field it does not take.</summary>
    protected virtual (int Status, string Message) UndocumentedField(string field) => (400, $"Unknown field '{field}'");

    protected abstract bool IsAuthorized(HttpRequest request);

    /// <summary>The provider's own error body for a status.</summary>
    protected abstract (byte[] Body, string ContentType) ErrorBody(int status, string message);

    /// <summary>Provider-specific validation; returns a status and message to refuse with.</summary>
    protected abstract (int Status, string Message)? Validate(ChatRequestView request, string? slug);

    protected virtual bool SupportsStreaming => true;

    protected abstract Task StreamAsync(SimExchange x, ChatRequestView request, ReplyPlan plan, string id);

    protected abstract byte[] CompletionBody(SimExchange x, ChatRequestView request, ReplyPlan plan, string id);

    protected virtual void AddAnswerHeaders(SimExchange x, ReplyPlan plan)
    {
    }

    /// <summary>How the provider says when to retry (the <c>retry_after</c> knob, in seconds).</summary>
    protected virtual void SetRetryHeaders(SimExchange x) => x.SetRetryAfter();

    public async Task HandleAsync(HttpContext context, string? slug = null)
    {
        using var reader = new StreamReader(context.Request.Body, Encoding.UTF8);
        var body = await reader.ReadToEndAsync(context.RequestAborted);
        var entry = log.Add(Name, context.Request, body);
        context.RequestAborted.Register(() => entry.Aborted = !entry.Completed);
        var view = ChatRequestView.TryParse(body, out var problem);
        var knobs = Directives.Parse(view?.LastUserText).Over(runFaults()).For(Name).ForModel(view?.Model ?? slug)
            .AfterFailures(log.CountAttempt(Name, context.Request));
        var x = new SimExchange(context, entry, knobs);
        try
        {
            await AnswerAsync(x, view, problem, slug);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            entry.Aborted = true;
        }
    }

    private async Task AnswerAsync(SimExchange x, ChatRequestView? view, string? problem, string? slug)
    {
        if (!await x.BeforeAnswerAsync())
        {
            return;
        }

        if (x.Knobs.Int("status") is { } status)
        {
            await WriteErrorAsync(x, status, x.Knobs.Text("error_message") ?? "simulated error");
            return;
        }

        if (!IsAuthorized(x.Context.Request))
        {
            await WriteErrorAsync(x, 401, "Invalid API key");
            return;
        }

        if (view is null)
        {
            await WriteErrorAsync(x, 400, problem ?? "invalid request");
            return;
        }

        if (!acceptUndocumented && !x.Knobs.Flag("lenient") && (view.Fields.FirstOrDefault(f => !DocumentedFields.Contains(f))
                ?? view.MessageFields.Select(f => "messages[]." + f).FirstOrDefault(f => !DocumentedMessageFields.Contains(f[11..]))
                ?? view.PartFields.Select(f => "messages[].content[]." + f).FirstOrDefault(f => !DocumentedPartFields.Contains(f[21..]))
                ?? view.PartTypes.Select(t => "messages[].content[].type=" + t).FirstOrDefault(t => t[26..] != "text")) is { } extra)
        {
            var (code, message) = UndocumentedField(extra);
            await WriteErrorAsync(x, code, message);
            return;
        }

        if (Validate(view, slug) is { } refusal)
        {
            await WriteErrorAsync(x, refusal.Status, refusal.Message);
            return;
        }

        var plan = ReplyPlan.For(view.Messages.Select(m => m.Text), view.LastUserText, view.MaxTokens, x.Knobs);
        var id = "sim-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6));
        AddAnswerHeaders(x, plan);
        if (SupportsStreaming && (view.Stream || x.Knobs.Flag("sse_for_json")))
        {
            await StreamAsync(x, view, plan, id);
            return;
        }

        if (x.Knobs.Flag("malformed"))
        {
            await x.WriteJsonAsync(200, "{\"id\": \"broken\", \"choices\": [{\"index\": 0, "u8.ToArray());
            return;
        }

        await x.WriteJsonAsync(200, CompletionBody(x, view, plan, id));
    }

    private async Task WriteErrorAsync(SimExchange x, int status, string message)
    {
        SetRetryHeaders(x);
        var (body, contentType) = x.Knobs.Text("body") switch
        {
            "html" => (Encoding.UTF8.GetBytes($"<html><head><title>{status} Error</title></head><body><h1>{message}</h1></body></html>"), "text/html"),
            "malformed" => ("{\"oops\": "u8.ToArray(), "application/json"),
            "empty" => ([], "application/json"),
            _ => ErrorBody(status, message),
        };
        await x.WriteJsonAsync(status, body, contentType);
    }
}
