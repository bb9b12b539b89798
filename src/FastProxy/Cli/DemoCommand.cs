using System.CommandLine;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using FastProxy.Configuration;
using FastProxy.Demo;
using FastProxy.Listener;

namespace FastProxy.Cli;

/// <summary>
/// <c>fastproxy demo</c>: FastProxy's main job on loopback with no Azure account. It starts a fake
/// IMDS token endpoint, a remote-write receiver that checks the bearer token, and FastProxy
/// between them (with the real ManagedIdentityCredential), posts real Prometheus remote-write
/// bodies through it, prints what arrived and exits 0 when everything arrived intact.
/// </summary>
internal static class DemoCommand
{
    public static Command Create()
    {
        var command = new Command("demo", "Run FastProxy on loopback between a fake Entra token endpoint and a fake remote-write receiver, push real remote-write bodies through it and show what arrived.");
        command.SetAction((_, cancellationToken) => RunAsync(Console.Out, cancellationToken));
        return command;
    }

    public static async Task<int> RunAsync(TextWriter output, CancellationToken cancellationToken)
    {
        // The demo runs as the proxy does by default; the fake endpoints below open sockets first.
        KestrelTuning.ApplyToProcess(inlineIoCompletions: true);
        var issuer = new DemoTokenIssuer();
        await using var issuerApp = await LoopbackApp.StartAsync(issuer.HandleAsync);
        var receiver = new DemoReceiver(issuer.Token);
        await using var receiverApp = await LoopbackApp.StartAsync(receiver.HandleAsync);

        // The real ManagedIdentityCredential talks to the fake IMDS through the variable AKS pod
        // identity uses to move IMDS.
        Environment.SetEnvironmentVariable("AZURE_POD_IDENTITY_AUTHORITY_HOST", issuerApp.Address.ToString().TrimEnd('/'));
        var environment = new Dictionary<string, string>
        {
            ["TARGET_HOST"] = receiverApp.Address.ToString().TrimEnd('/'),
            ["IDENTITY_TYPE"] = "systemassigned",
            ["LISTEN_ADDRESS"] = "127.0.0.1",
            ["LOG_FORMAT"] = "text",
            ["LOG_LEVEL"] = "warning",
        };
        var configuration = new ConfigurationLoader(new Dictionary<Setting, string?>(), name => environment.GetValueOrDefault(name)).Load();
        if (!configuration.IsValid)
        {
            await CommandLine.ReportConfigurationErrorsAsync(configuration.Errors);
            return CommandLine.ConfigurationErrorExitCode;
        }

        await using var proxy = ProxyServer.Create(configuration.Options! with { ListeningPort = 0 });
        await proxy.StartAsync(cancellationToken);
        var proxyAddress = proxy.Addresses[0];
        await output.WriteLineAsync($"token issuer (fake IMDS)  {issuerApp.Address}");
        await output.WriteLineAsync($"receiver (checks token)   {receiverApp.Address}");
        await output.WriteLineAsync($"FastProxy                 {proxyAddress}");

        using var client = new HttpClient { BaseAddress = proxyAddress, Timeout = TimeSpan.FromSeconds(10) };
        if (!await WaitUntilReadyAsync(client, cancellationToken))
        {
            await output.WriteLineAsync("FastProxy did not become ready within 10 s: " + await client.GetStringAsync(new Uri("/ready", UriKind.Relative), cancellationToken));
            return 1;
        }

        var fixtures = DemoFixtures.Load();
        var sent = 0L;
        foreach (var (name, body) in fixtures)
        {
            using var content = new ByteArrayContent(body);
            content.Headers.ContentType = new MediaTypeHeaderValue("application/x-protobuf");
            content.Headers.ContentEncoding.Add("snappy");
            using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/write") { Content = content };
            request.Headers.Add("X-Prometheus-Remote-Write-Version", "0.1.0");
            request.Headers.UserAgent.ParseAdd("fastproxy-demo/1.0");
            using var response = await client.SendAsync(request, cancellationToken);
            await output.WriteLineAsync($"POST /api/v1/write  {name,-20} {body.Length,7:N0} bytes -> {(int)response.StatusCode} {response.StatusCode}");
            if (response.StatusCode != HttpStatusCode.NoContent)
            {
                return 1;
            }

            sent += body.Length;
        }

        var received = receiver.Received;
        var intact = received.Count == fixtures.Count &&
                     received.Zip(fixtures).All(pair => pair.First.Body.AsSpan().SequenceEqual(pair.Second.Body));
        var summary = DemoFixtures.Summarize(received.Select(r => r.Body));
        await output.WriteLineAsync();
        await output.WriteLineAsync($"receiver got {received.Count} requests, {received.Sum(r => (long)r.Body.Length):N0} bytes (sent {sent:N0}), bodies byte-for-byte intact: {(intact ? "yes" : "NO")}");
        await output.WriteLineAsync(summary);

        await output.WriteLineAsync($"every request carried the issued token (sha256 {Fingerprint(issuer.Token)}); rejected by receiver: {receiver.Rejected}; tokens issued: {issuer.TokensIssued}");
        await proxy.StopAsync();
        return intact && receiver.Rejected == 0 ? 0 : 1;
    }

    private static async Task<bool> WaitUntilReadyAsync(HttpClient client, CancellationToken cancellationToken)
    {
        // Bounded: 200 polls of 50 ms. The token arrives in the background within milliseconds.
        for (var attempt = 0; attempt < 200; attempt++)
        {
            using var response = await client.GetAsync(new Uri("/ready", UriKind.Relative), cancellationToken);
            if (response.IsSuccessStatusCode)
            {
                return true;
            }

            await Task.Delay(50, cancellationToken);
        }

        return false;
    }

    // Tokens are never printed; a fingerprint shows it is the same one without revealing it.
    private static string Fingerprint(string token) => Convert.ToHexString(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(token)))[..12].ToLowerInvariant();
}
