using ProviderSimulator;

var app = SimulatorApp.Create(args);
await app.RunAsync();
