using System.Collections.Concurrent;
using FastProxy.IntegrationTests.Support;

namespace FastProxy.EndToEndTests;

/// <summary>
/// The real thing: Prometheus 2.42 scrapes itself every second and remote-writes through FastProxy
/// (a child process whose real ManagedIdentityCredential gets its token from a fake IMDS) to a
/// receiver that checks the bearer token and counts the samples it decodes.
/// </summary>
public sealed class PrometheusRemoteWriteTests
{
    private const int RequiredSends = 3;
    private static readonly TimeSpan DeliveryTimeout = TimeSpan.FromSeconds(60);

    internal static string PrometheusBinaryOrSkip()
    {
        if (PrometheusServer.FindBinary() is { } binary)
        {
            return binary;
        }

        if (Environment.GetEnvironmentVariable("FASTPROXY_REQUIRE_E2E") == "1")
        {
            Assert.Fail("prometheus binary not found (apt-get install prometheus) and FASTPROXY_REQUIRE_E2E=1: the end-to-end test must run here");
        }

        Assert.Skip("prometheus binary not found (apt-get install prometheus); end-to-end test skipped");
        return null!;
    }

    /// <summary>A receiver that decodes each body; counts only requests with a token the fake IMDS issued.</summary>
    private sealed class Receiver
    {
        public ConcurrentQueue<RemoteWriteCounts> Sends { get; } = new();

        public ConcurrentQueue<string> Problems { get; } = new();

        public int SendsWithSamples => Sends.Count(s => s.Samples > 0);

        public long Samples => Sends.Sum(s => (long)s.Samples);

        public void Attach(FakeUpstream upstream, string expectedPath)
        {
            upstream.Behavior = async (context, recorded) =>
            {
                var body = await FakeUpstream.ReadBodyAsync(context);
                if (recorded.RawTarget != expectedPath)
                {
                    Problems.Enqueue($"posted to {recorded.RawTarget}, expected {expectedPath}");
                }

                if (recorded.Header("Content-Encoding") != "snappy" || recorded.Header("X-Prometheus-Remote-Write-Version") != "0.1.0")
                {
                    Problems.Enqueue($"headers lost: Content-Encoding={recorded.Header("Content-Encoding")}, version={recorded.Header("X-Prometheus-Remote-Write-Version")}");
                }

                try
                {
                    Sends.Enqueue(RemoteWriteCounter.Count(body));
                    context.Response.StatusCode = 204;
                }
                catch (Exception ex) when (ex is FormatException or InvalidOperationException or ArgumentException or IndexOutOfRangeException)
                {
                    Problems.Enqueue($"undecodable body of {body.Length} bytes: {ex.Message}");
                    context.Response.StatusCode = 400;
                }
            };
        }
    }

    public static TheoryData<string> Modes => ["TARGET_HOST", "INGESTION_URL"];

    [Theory]
    [Trait("Category", "EndToEnd")]
    [MemberData(nameof(Modes))]
    public async Task PrometheusRemoteWrite_ArrivesWithTheTokenAndNothingFailsOrIsDropped(string mode)
    {
        var binary = PrometheusBinaryOrSkip();
        await using var imds = await FakeImds.StartAsync();
        await using var upstream = await FakeUpstream.StartAsync();
        upstream.TokenValidator = imds.HasIssued;
        const string IngestionPath = "/dataCollectionRules/dcr-00000000000000000000000000000000/streams/Microsoft-PrometheusMetrics/api/v1/write?api-version=2023-04-24";
        var receiver = new Receiver();
        receiver.Attach(upstream, mode == "INGESTION_URL" ? IngestionPath : "/api/v1/write");

        await using var proxy = ProxyProcess.Start(new Dictionary<string, string?>
        {
            [mode] = mode == "INGESTION_URL" ? upstream.BaseUrl + IngestionPath : upstream.BaseUrl,
            ["IDENTITY_TYPE"] = "systemassigned",
            ["AZURE_POD_IDENTITY_AUTHORITY_HOST"] = imds.BaseUrl,
        });
        using var client = TestHttp.CreateClient(timeout: TimeSpan.FromSeconds(10));
        // Started only once FastProxy holds a token, so no batch is ever retried for a 503.
        await proxy.WaitForReadyAsync(client, TimeSpan.FromSeconds(30));

        await using var prometheus = PrometheusServer.Start(binary, new Uri(proxy.BaseAddress, "/api/v1/write").ToString());
        var deadline = DateTime.UtcNow + DeliveryTimeout;
        while (receiver.SendsWithSamples < RequiredSends && DateTime.UtcNow < deadline && !prometheus.HasExited && receiver.Problems.IsEmpty)
        {
            // Polling external processes (Prometheus sends on its own schedule); bounded by the deadline.
            await Task.Delay(250);
        }

        Assert.True(receiver.Problems.IsEmpty, string.Join("\n", receiver.Problems));
        Assert.True(receiver.SendsWithSamples >= RequiredSends,
            $"the receiver got {receiver.SendsWithSamples} sends with samples within {DeliveryTimeout.TotalSeconds} s\n--- prometheus ---\n{prometheus.Output}\n{proxy.Describe()}");

        var metrics = await prometheus.ScrapeAsync(client);
        double Metric(string name) => metrics.TryGetValue(name, out var value)
            ? value
            : throw new InvalidOperationException($"Prometheus exposes no {name}; its remote-write metrics are: " +
                string.Join(", ", metrics.Keys.Where(k => k.StartsWith("prometheus_remote_storage_", StringComparison.Ordinal))));

        var sent = Metric("prometheus_remote_storage_samples_total");
        Assert.True(sent > 0, "Prometheus reports no samples sent");
        Assert.Equal(0, Metric("prometheus_remote_storage_samples_failed_total"));
        Assert.Equal(0, Metric("prometheus_remote_storage_samples_dropped_total"));
        Assert.Equal(0, Metric("prometheus_remote_storage_samples_retried_total"));
        Assert.Equal(0, Metric("prometheus_remote_storage_metadata_failed_total"));
        Assert.Equal(0, Metric("prometheus_remote_storage_metadata_retried_total"));
        // Prometheus counts a sample as sent once the receiver has answered, so the receiver saw at least as many.
        Assert.True(receiver.Samples >= sent, $"the receiver decoded {receiver.Samples} samples, Prometheus says it sent {sent}");

        Assert.Equal(0, upstream.Unauthorized);
        Assert.NotEmpty(imds.IssuedTokens);
        Assert.All(upstream.TokensSeen, seen => Assert.True(imds.HasIssued(seen["Bearer ".Length..]), "a request carried a token the identity endpoint never issued"));
        Assert.Equal(upstream.Requests.Count, upstream.Requests.Count(r => r.Header("Authorization") is { } a && imds.HasIssued(a["Bearer ".Length..])));
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"{upstream.Requests.Count} requests, {receiver.SendsWithSamples} with samples, {receiver.Samples} samples received, Prometheus reports {sent} sent");
    }

    [Fact]
    public void RemoteWriteCounter_CountsTheFixturesAsTheirIndependentSummarySays()
    {
        var folder = Path.Combine(AppContext.BaseDirectory, "testdata", "remote-write", "prometheus-2.42");
        Assert.Equal(new RemoteWriteCounts(2000, 2000, 0), RemoteWriteCounter.Count(File.ReadAllBytes(Path.Combine(folder, "batch-48495.snappy"))));
        Assert.Equal(new RemoteWriteCounts(500, 500, 0), RemoteWriteCounter.Count(File.ReadAllBytes(Path.Combine(folder, "batch-12826.snappy"))));
        Assert.Equal(new RemoteWriteCounts(0, 0, 202), RemoteWriteCounter.Count(File.ReadAllBytes(Path.Combine(folder, "batch-9402.snappy"))));

        // The accounting test's view of the same body: one (series, timestamp) per sample, each with a
        // metric name and a plausible millisecond timestamp (Prometheus 2.42 sends one sample per series).
        var samples = RemoteWriteCounter.Samples(File.ReadAllBytes(Path.Combine(folder, "batch-12826.snappy")));
        Assert.Equal(500, samples.Count);
        Assert.Equal(500, samples.Distinct().Count());
        Assert.All(samples, s => Assert.Contains("__name__=\"", s.Series, StringComparison.Ordinal));
        Assert.All(samples, s => Assert.InRange(s.TimestampMs, new DateTimeOffset(2020, 1, 1, 0, 0, 0, TimeSpan.Zero).ToUnixTimeMilliseconds(), DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()));
    }
}
