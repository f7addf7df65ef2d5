using Gateway;
using Gateway.Configuration;

try
{
    var app = GatewayApp.Create(args);
    await app.RunAsync();
    return 0;
}
catch (GatewayConfigurationException ex)
{
    await Console.Error.WriteLineAsync(ex.Message);
    return 1;
}
