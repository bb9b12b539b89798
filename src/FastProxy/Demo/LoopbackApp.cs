using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace FastProxy.Demo;

/// <summary>A tiny Kestrel app on 127.0.0.1 with an ephemeral port, for the demo's fake endpoints.</summary>
internal sealed class LoopbackApp : IAsyncDisposable
{
    private readonly WebApplication _app;

    private LoopbackApp(WebApplication app) => _app = app;

    public Uri Address { get; private set; } = null!;

    public static async Task<LoopbackApp> StartAsync(RequestDelegate handler)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            Args = ["--hostBuilder:reloadConfigOnChange=false"],
            ContentRootPath = AppContext.BaseDirectory,
        });
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Limits.MaxRequestBodySize = null;
            k.Listen(System.Net.IPAddress.Loopback, 0);
        });
        var app = builder.Build();
        app.Run(handler);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new LoopbackApp(app) { Address = new Uri(address) };
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();
}
