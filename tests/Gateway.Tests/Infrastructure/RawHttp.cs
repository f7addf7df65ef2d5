using System.Net.Sockets;
using System.Text;

namespace Gateway.Tests.Infrastructure;

/// <summary>Writes bytes no HTTP client library would send (broken framing) and reads whatever comes back.</summary>
public static class RawHttp
{
    public static async Task<string> SendAsync(Uri server, string request, TimeSpan? timeout = null)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(server.Host, server.Port);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request));
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(10));
        var answer = new StringBuilder();
        var buffer = new byte[8192];
        try
        {
            int read;
            while ((read = await stream.ReadAsync(buffer, cts.Token)) > 0)
            {
                answer.Append(Encoding.UTF8.GetString(buffer, 0, read));
                if (answer.ToString().Contains("\r\n\r\n", StringComparison.Ordinal) && IsComplete(answer.ToString()))
                {
                    break;
                }
            }
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException)
        {
            // Whatever arrived before the server closed (or went quiet) is the answer.
        }

        return answer.ToString();
    }

    private static bool IsComplete(string text)
    {
        var head = text[..text.IndexOf("\r\n\r\n", StringComparison.Ordinal)];
        var length = head.Split("\r\n").FirstOrDefault(l => l.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase));
        return length is not null && text.Length - head.Length - 4 >= int.Parse(length["Content-Length:".Length..].Trim(), System.Globalization.CultureInfo.InvariantCulture);
    }
}
