using System.Text.Json;
using Gateway.Auth;
using Gateway.Configuration;
using Gateway.Errors;

namespace Gateway.Endpoints;

/// <summary><c>GET /v1/models</c> and <c>GET /v1/models/{id}</c>: the models the calling key may use.</summary>
internal static class ModelsEndpoint
{
    public static async Task ListAsync(HttpContext context)
    {
        var (key, snapshot) = context.Caller();

        await WriteJsonAsync(context, w =>
        {
            w.WriteStartObject();
            w.WriteString("object"u8, "list"u8);
            w.WriteStartArray("data"u8);
            foreach (var model in snapshot.ModelsFor(key))
            {
                WriteModel(w, model);
            }

            w.WriteEndArray();
            w.WriteEndObject();
        });
    }

    public static async Task GetAsync(HttpContext context, string id)
    {
        var (key, snapshot) = context.Caller();

        var model = snapshot.FindModel(id, key);
        if (model is null)
        {
            await ErrorWriter.WriteAsync(context, GatewayError.ModelNotFound(id));
            return;
        }

        await WriteJsonAsync(context, w => WriteModel(w, model));
    }

    private static void WriteModel(Utf8JsonWriter w, ModelRoute model)
    {
        w.WriteStartObject();
        w.WriteString("id"u8, model.Name);
        w.WriteString("object"u8, "model"u8);
        w.WriteNumber("created"u8, model.Created);
        w.WriteString("owned_by"u8, model.OwnedBy);
        w.WriteEndObject();
    }

    private static async Task WriteJsonAsync(HttpContext context, Action<Utf8JsonWriter> write)
    {
        context.Response.ContentType = "application/json";
        using (var w = new Utf8JsonWriter(context.Response.BodyWriter, Translators.Contract.OpenAiJson.WriterOptions))
        {
            write(w);
        }

        await context.Response.BodyWriter.FlushAsync(context.RequestAborted);
    }
}
