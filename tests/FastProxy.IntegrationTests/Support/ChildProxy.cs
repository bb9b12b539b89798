using System.Net;
using System.Text.Json;

namespace FastProxy.IntegrationTests.Support;

/// <summary>
/// FastProxy as a child process between a fake identity endpoint and a fake upstream that accepts
/// exactly the tokens that endpoint issued: the whole credential path is real (Azure.Identity, MSAL).
/// </summary>
internal sealed class ChildProxy : IAsyncDisposable
{
    private ChildProxy(FakeTokenEndpoint identity, FakeUpstream upstream, ProxyProcess proxy)
    {
        Identity = identity;
        Upstream = upstream;
        Process = proxy;
        Client = TestHttp.CreateClient(proxy.BaseAddress, TimeSpan.FromSeconds(30));
    }

    public FakeTokenEndpoint Identity { get; }

    public FakeUpstream Upstream { get; }

    public ProxyProcess Process { get; }

    public HttpClient Client { get; }

    /// <summary>FastProxy with IMDS at <paramref name="imds"/> (AZURE_POD_IDENTITY_AUTHORITY_HOST).</summary>
    /// <param name="holdStdout">See <see cref="ProxyProcess.Start"/>.</param>
    /// <param name="nativeBinary">See <see cref="ProxyProcess.Start"/>.</param>
    public static async Task<ChildProxy> StartWithImdsAsync(FakeImds imds, IReadOnlyDictionary<string, string?>? settings = null,
        bool holdStdout = false, string? nativeBinary = null) =>
        await StartAsync(imds, new Dictionary<string, string?> { ["AZURE_POD_IDENTITY_AUTHORITY_HOST"] = imds.BaseUrl }, settings, holdStdout, nativeBinary);

    /// <summary>FastProxy with the App Service / Container Apps endpoint (IDENTITY_ENDPOINT + IDENTITY_HEADER).</summary>
    public static async Task<ChildProxy> StartWithAppServiceAsync(FakeAppServiceIdentity endpoint, IReadOnlyDictionary<string, string?>? settings = null) =>
        await StartAsync(endpoint, new Dictionary<string, string?>
        {
            ["IDENTITY_ENDPOINT"] = endpoint.Endpoint,
            ["IDENTITY_HEADER"] = endpoint.Secret,
        }, settings);

    private static async Task<ChildProxy> StartAsync(FakeTokenEndpoint identity, Dictionary<string, string?> environment, IReadOnlyDictionary<string, string?>? settings,
        bool holdStdout = false, string? nativeBinary = null)
    {
        var upstream = await FakeUpstream.StartAsync();
        upstream.TokenValidator = identity.HasIssued;
        environment["TARGET_HOST"] = upstream.BaseUrl;
        environment["IDENTITY_TYPE"] = "systemassigned";
        foreach (var (name, value) in settings ?? new Dictionary<string, string?>())
        {
            environment[name] = value;
        }

        var proxy = ProxyProcess.Start(environment, holdStdout: holdStdout, nativeBinary: nativeBinary);
        return new ChildProxy(identity, upstream, proxy);
    }

    /// <summary>GET /ready: the status and the parsed JSON body.</summary>
    public async Task<(HttpStatusCode Status, JsonElement Body, string? RetryAfter)> GetReadyAsync()
    {
        using var response = await Client.GetAsync(new Uri("/ready", UriKind.Relative));
        var text = await response.Content.ReadAsStringAsync();
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        using var json = JsonDocument.Parse(text);
        return (response.StatusCode, json.RootElement.Clone(), response.Headers.RetryAfter?.ToString());
    }

    /// <summary>Polls /ready (bounded) until <paramref name="condition"/> holds for its body.</summary>
    public async Task<JsonElement> WaitForReadyStateAsync(HttpStatusCode status, Func<JsonElement, bool> condition, TimeSpan timeout, string what)
    {
        await Process.WaitForListeningAsync();
        var deadline = DateTime.UtcNow + timeout;
        var last = "";
        while (DateTime.UtcNow < deadline && !Process.HasExited)
        {
            var (actual, body, _) = await GetReadyAsync();
            if (actual == status && condition(body))
            {
                return body;
            }

            last = $"{(int)actual} {body}";
            // Polling an external process: bounded by the deadline.
            await Task.Delay(100);
        }

        throw new TimeoutException($"/ready never showed {what} within {timeout.TotalSeconds:0} s; last: {last}\n{Process.Describe()}");
    }

    public async Task<HttpResponseMessage> PostRemoteWriteAsync(byte[]? body = null)
    {
        using var request = TestHttp.RemoteWrite(body ?? new byte[512]);
        return await Client.SendAsync(request);
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await Process.DisposeAsync();
        await Upstream.DisposeAsync();
    }
}
