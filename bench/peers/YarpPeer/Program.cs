// A minimal YARP forwarder, configured like the harness's nginx and HAProxy: one catch-all route to
// the sink, a static Authorization header, HTTP/1.1 on one port and h2c on another. Settings come
// from the environment so bench/load/run.sh can place it: SINK, TOKEN, PORT, H2C_PORT.
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Transforms;

var sink = Environment.GetEnvironmentVariable("SINK") ?? "http://127.0.0.1:18080";
var token = Environment.GetEnvironmentVariable("TOKEN") ?? "bench-token";
var port = int.Parse(Environment.GetEnvironmentVariable("PORT") ?? "18400", System.Globalization.CultureInfo.InvariantCulture);
var h2cPort = int.Parse(Environment.GetEnvironmentVariable("H2C_PORT") ?? "18401", System.Globalization.CultureInfo.InvariantCulture);

var builder = WebApplication.CreateSlimBuilder(args);
builder.Logging.ClearProviders();
builder.WebHost.ConfigureKestrel(kestrel =>
{
    kestrel.AddServerHeader = false;
    // Bodies of any size, as nginx's client_max_body_size 0 and FastProxy's MAX_REQUEST_BODY_BYTES=0.
    kestrel.Limits.MaxRequestBodySize = null;
    kestrel.Listen(System.Net.IPAddress.Loopback, port, o => o.Protocols = HttpProtocols.Http1);
    kestrel.Listen(System.Net.IPAddress.Loopback, h2cPort, o => o.Protocols = HttpProtocols.Http2);
});
builder.Services.AddReverseProxy()
    .LoadFromMemory(
        [new RouteConfig { RouteId = "all", ClusterId = "sink", Match = new RouteMatch { Path = "{**catch-all}" } }],
        [new ClusterConfig { ClusterId = "sink", Destinations = new Dictionary<string, DestinationConfig> { ["sink"] = new() { Address = sink } } }])
    .AddTransforms(context => context.AddRequestHeader("Authorization", $"Bearer {token}", append: false));

var app = builder.Build();
app.MapReverseProxy();
app.Run();
