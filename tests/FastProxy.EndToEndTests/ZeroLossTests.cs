using System.Globalization;
using System.Text;
using FastProxy.IntegrationTests.Identity;
using FastProxy.IntegrationTests.Support;
using Microsoft.AspNetCore.Http;

namespace FastProxy.EndToEndTests;

/// <summary>
/// The accounting test: real Prometheus 2.42 scrapes itself and a few hundred synthetic series
/// every second and remote-writes through FastProxy (a child process with the real
/// ManagedIdentityCredential) while the receiver is killed and restarted twice (the second time
/// with a write in flight) and the identity endpoint goes down, answers 500, then 429 — with
/// tokens so short-lived that FastProxy must refresh during the test. Afterwards every
/// (series, timestamp) Prometheus' own storage holds up to the cut-off must be in the receiver:
/// zero loss. Twice: a plain-HTTP receiver, and one serving HTTPS with HTTP/2 as Azure Monitor
/// does (a test CA that FastProxy trusts through SSL_CERT_FILE). The HTTPS run passed with the
/// request-body race of round 8 too (perf-baselines/CHANGES.md): Prometheus retried what the broken
/// connections failed, so nothing was lost; Forwarding/UpstreamTlsTests is what catches that race.
/// </summary>
public sealed class ZeroLossTests
{
    private const int SyntheticSeries = 300;
    private const string RemoteStorage = "prometheus_remote_storage_";

    // Short enough that FastProxy (refreshing at half-life) fetches several tokens during the test,
    // and that the identity endpoint's outage (≈ 9 s) outlasts the held token at least once.
    private static readonly TimeSpan TokenLifetime = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan MinimumOutage = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan StepTimeout = TimeSpan.FromSeconds(20);

    // FastProxy's refresh backoff doubles up to 30 s; after a few failed fetches the next attempt
    // may be that far away.
    private static readonly TimeSpan TokenRecoveryTimeout = TimeSpan.FromSeconds(45);
    private static readonly TimeSpan CatchUpTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan ArrivalTimeout = TimeSpan.FromSeconds(15);

    [Theory]
    [Trait("Category", "EndToEnd")]
    [InlineData(false)]
    [InlineData(true)]
    public async Task PrometheusThroughReceiverRestartsAndTokenEndpointFlaps_EverySampleArrives(bool httpsTarget)
    {
        var binary = PrometheusRemoteWriteTests.PrometheusBinaryOrSkip();
        var log = new StringBuilder();
        void Note(string line)
        {
            lock (log)
            {
                log.Append(CultureInfo.InvariantCulture, $"{DateTimeOffset.UtcNow:HH:mm:ss.fff} {line}\n");
            }
        }

        var certificates = httpsTarget ? Directory.CreateTempSubdirectory("fastproxy-e2e-tls-") : null;
        using var authority = certificates is null ? null : TestCertificateAuthority.Create(certificates.FullName);
        await using var imds = await FlappingImds.StartAsync(TokenLifetime);
        await using var receiver = await AccountingReceiver.StartAsync(imds, authority?.ServerCertificate);
        var scrapes = 0;
        await using var target = await LoopbackHost.StartAsync(async context =>
        {
            var scrape = Interlocked.Increment(ref scrapes);
            var text = new StringBuilder("# HELP fastproxy_e2e_load Synthetic series for the accounting test.\n# TYPE fastproxy_e2e_load gauge\n");
            for (var i = 0; i < SyntheticSeries; i++)
            {
                text.Append(CultureInfo.InvariantCulture, $"fastproxy_e2e_load{{series=\"{i}\"}} {(scrape * 1000) + i}\n");
            }

            context.Response.ContentType = "text/plain; version=0.0.4";
            await context.Response.WriteAsync(text.ToString(), context.RequestAborted);
        });

        var settings = new Dictionary<string, string?>
        {
            ["TARGET_HOST"] = receiver.BaseUrl,
            ["IDENTITY_TYPE"] = "systemassigned",
            ["AZURE_POD_IDENTITY_AUTHORITY_HOST"] = imds.BaseUrl,
            ["AAD_TOKEN_REFRESH_INTERVAL_IN_PERCENTAGE"] = "50",
            // A 401 must reach Prometheus as what it is (final: the batch is dropped), so that a
            // request with a wrong or expired token shows up as lost samples instead of a retry.
            ["UPSTREAM_AUTH_ERRORS_AS_503_SECONDS"] = "0",
        };
        if (authority is not null)
        {
            // The test CA is the whole trust store.
            settings["SSL_CERT_FILE"] = authority.BundlePath;
            settings["SSL_CERT_DIR"] = certificates!.CreateSubdirectory("no-system-cas").FullName;
        }

        await using var proxy = ProxyProcess.Start(settings);
        using var client = TestHttp.CreateClient(timeout: TimeSpan.FromSeconds(10));
        await proxy.WaitForReadyAsync(client, TimeSpan.FromSeconds(30));

        await using var prometheus = PrometheusServer.Start(binary, new Uri(proxy.BaseAddress, AccountingReceiver.WritePath).ToString(),
            [target.Address.Authority]);
        var prometheusStarted = DateTimeOffset.UtcNow;

        async Task<double> PrometheusMetricAsync(string name)
        {
            var metrics = await prometheus.ScrapeAsync(client);
            return metrics.TryGetValue(name, out var value)
                ? value
                : throw new InvalidOperationException($"Prometheus exposes no {name}; its remote-write metrics are: " +
                    string.Join(", ", metrics.Keys.Where(k => k.StartsWith(RemoteStorage, StringComparison.Ordinal))));
        }

        string Context() =>
            $"--- test ---\n{log}\n--- receiver refusals ---\n{string.Join("\n", receiver.Refusals.Take(20))}\n" +
            $"--- prometheus ---\n{prometheus.Output}\n{proxy.Describe()}";

        try
        {
            // Steady state first: samples of both jobs flow before anything breaks.
            await receiver.WaitForWritesAsync(2, StepTimeout);
            Note($"steady: {receiver.AcceptedWrites} writes, {imds.IssuedCount} token(s) issued");

            async Task ReceiverOutagesAsync()
            {
                for (var outage = 1; outage <= 2; outage++)
                {
                    await receiver.WaitForWritesAsync(receiver.AcceptedWrites + 2, StepTimeout);
                    var retriedBefore = await PrometheusMetricAsync(RemoteStorage + "samples_retried_total");
                    if (outage == 2)
                    {
                        // The second kill lands on a write in flight: FastProxy must not answer it 2xx.
                        await receiver.HoldNextWriteAsync().WaitAsync(StepTimeout);
                        Note("a write is held unanswered at the receiver");
                    }

                    await receiver.Host.KillAsync();
                    var killedAt = DateTime.UtcNow;
                    Note($"receiver killed (outage {outage})");
                    // Down for at least MinimumOutage and until Prometheus has had a batch refused
                    // (FastProxy answered 5xx) and retried it: the outage cannot go unnoticed.
                    await PollAsync(async () => DateTime.UtcNow - killedAt >= MinimumOutage &&
                        await PrometheusMetricAsync(RemoteStorage + "samples_retried_total") > retriedBefore,
                        StepTimeout, $"Prometheus retrying a batch during receiver outage {outage}");
                    await receiver.Host.StartAsync();
                    Note($"receiver restarted on the same port (outage {outage} lasted {(DateTime.UtcNow - killedAt).TotalSeconds:0.0} s)");
                }
            }

            async Task TokenEndpointFlapsAsync()
            {
                await imds.Host.KillAsync();
                Note("identity endpoint down");
                // Nothing arrives at a closed port to wait for: the outage's length is the point.
                await Task.Delay(MinimumOutage);
                imds.Answer = ImdsAnswer.ServerError;
                await imds.Host.StartAsync();
                var since = DateTime.UtcNow;
                Note("identity endpoint answers 500");
                await imds.WaitForAnswersAsync(ImdsAnswer.ServerError, 1, StepTimeout);
                await DelayUntilAsync(since + MinimumOutage);
                imds.Answer = ImdsAnswer.TooManyRequests;
                since = DateTime.UtcNow;
                Note("identity endpoint answers 429");
                await imds.WaitForAnswersAsync(ImdsAnswer.TooManyRequests, 1, StepTimeout);
                await DelayUntilAsync(since + MinimumOutage);
                var issuedBefore = imds.IssuedCount;
                imds.Answer = ImdsAnswer.Token;
                Note("identity endpoint issues tokens again");
                // FastProxy recovers by itself: a new token is fetched after the flapping.
                await imds.WaitForIssuedAsync(issuedBefore + 1, TokenRecoveryTimeout);
                Note($"new token after the flapping ({imds.IssuedCount} issued)");
            }

            await Task.WhenAll(ReceiverOutagesAsync(), TokenEndpointFlapsAsync());

            // A little steady traffic after the last fault, then the cut-off: everything stored up to
            // T must arrive; what is scraped after T may still be in flight and is not counted.
            await receiver.WaitForTokensAsync(3, TokenRecoveryTimeout);
            await receiver.WaitForWritesAsync(receiver.AcceptedWrites + 2, StepTimeout);
            var cutOff = DateTimeOffset.UtcNow;
            Note("cut-off T");

            // Caught up: Prometheus reports a sample newer than T sent, and nothing is pending.
            await PollAsync(async () =>
            {
                var metrics = await prometheus.ScrapeAsync(client);
                return metrics.GetValueOrDefault(RemoteStorage + "queue_highest_sent_timestamp_seconds") > cutOff.ToUnixTimeSeconds() + 1 &&
                    metrics.GetValueOrDefault(RemoteStorage + "samples_pending", double.NaN) is < 1000;
            }, CatchUpTimeout, "Prometheus' remote-write queue to catch up past the cut-off");
            Note("Prometheus' queue caught up past T");

            var expected = await prometheus.QuerySamplesAsync(client, cutOff, cutOff - prometheusStarted + TimeSpan.FromSeconds(5));
            var distinctExpected = expected.Distinct().ToList();
            var missing = await receiver.WaitForAllAsync(distinctExpected, ArrivalTimeout);
            var seriesExpected = distinctExpected.Select(s => s.Series).Distinct().Count();
            var synthetic = distinctExpected.Count(s => s.Series.Contains("fastproxy_e2e_load", StringComparison.Ordinal));
            Note($"Prometheus' storage holds {distinctExpected.Count} samples of {seriesExpected} series up to T ({synthetic} synthetic); " +
                $"the receiver has {receiver.DistinctSamples} distinct samples from {receiver.AcceptedWrites} writes ({receiver.DecodedSamples} with duplicates); missing {missing.Count}");

            var failed = await PrometheusMetricAsync(RemoteStorage + "samples_failed_total");
            var dropped = await PrometheusMetricAsync(RemoteStorage + "samples_dropped_total");
            var retried = await PrometheusMetricAsync(RemoteStorage + "samples_retried_total");
            var metadataFailed = await PrometheusMetricAsync(RemoteStorage + "metadata_failed_total");
            var proxyMetrics = await client.GetStringAsync(new Uri(proxy.BaseAddress, "/metrics"));
            var upstreamErrors = SumMetric(proxyMetrics, "fastproxy_upstream_errors_total");
            var noToken = SumMetric(proxyMetrics, "fastproxy_proxy_errors_total", "no_token");
            Note($"Prometheus: failed {failed}, dropped {dropped}, retried {retried}, metadata failed {metadataFailed}; " +
                $"FastProxy: {upstreamErrors} upstream errors, {noToken} no_token answers; identity endpoint: {imds.IssuedCount} tokens, " +
                $"{imds.Answered(ImdsAnswer.ServerError)}×500, {imds.Answered(ImdsAnswer.TooManyRequests)}×429; receiver saw {receiver.DistinctTokensSeen} distinct tokens");
            TestContext.Current.TestOutputHelper?.WriteLine(log.ToString());

            // Zero loss.
            Assert.True(missing.Count == 0,
                $"{missing.Count} of {distinctExpected.Count} samples stored by Prometheus up to T never reached the receiver, e.g.\n" +
                string.Join("\n", missing.Take(10).Select(m => $"  {m.Series} @ {DateTimeOffset.FromUnixTimeMilliseconds(m.TimestampMs):HH:mm:ss.fff}")) + "\n" + Context());
            Assert.True(distinctExpected.Count > 10 * SyntheticSeries, $"only {distinctExpected.Count} samples stored up to T: the test measured too little\n{Context()}");
            Assert.True(synthetic > 5 * SyntheticSeries, $"only {synthetic} synthetic samples stored up to T\n{Context()}");
            // On 2.42 a batch is lost only through these: failed = a non-recoverable answer (4xx but
            // 429) dropped it; dropped = it never left the WAL reader. Both must stay 0.
            Assert.Equal(0, failed);
            Assert.Equal(0, dropped);
            Assert.Equal(0, metadataFailed);
            Assert.Empty(receiver.Problems);
            Assert.True(receiver.Refusals.Count == 0, $"the receiver refused {receiver.Refusals.Count} request(s) for their token\n{Context()}");

            // The faults really happened and were felt.
            Assert.Equal(2, receiver.Host.Outages.Count);
            Assert.Single(imds.Host.Outages);
            Assert.True(retried > 0, "Prometheus never retried: the outages were not felt");
            Assert.True(upstreamErrors > 0, $"FastProxy counted no upstream errors although the receiver was down twice\n{Context()}");
            Assert.True(imds.Answered(ImdsAnswer.ServerError) > 0 && imds.Answered(ImdsAnswer.TooManyRequests) > 0);
            Assert.True(imds.IssuedCount >= 3, $"only {imds.IssuedCount} tokens issued: no refresh happened during the test");
            Assert.True(receiver.DistinctTokensSeen >= 3, $"the receiver saw only {receiver.DistinctTokensSeen} distinct tokens: refreshed tokens were not used");
            // Over HTTPS every write came over HTTP/2 (the count also holds the write the kill aborted).
            Assert.True(httpsTarget ? receiver.Http2Writes >= receiver.AcceptedWrites : receiver.Http2Writes == 0,
                $"{receiver.Http2Writes} of {receiver.AcceptedWrites} accepted writes arrived over HTTP/2 (expected {(httpsTarget ? "every one" : "none")})");
        }
        catch (Exception ex) when (ex is TimeoutException or InvalidOperationException)
        {
            throw new InvalidOperationException($"{ex.Message}\n{Context()}", ex);
        }
        finally
        {
            certificates?.Delete(recursive: true);
        }
    }

    /// <summary>Sum of the samples of <paramref name="name"/> (any labels) whose label text contains <paramref name="labelText"/>.</summary>
    private static double SumMetric(string exposition, string name, string? labelText = null)
    {
        var sum = 0.0;
        foreach (var line in exposition.Split('\n'))
        {
            if (line.StartsWith(name, StringComparison.Ordinal) && line.Length > name.Length && line[name.Length] is '{' or ' ' &&
                (labelText is null || line.Contains(labelText, StringComparison.Ordinal)) &&
                double.TryParse(line[(line.LastIndexOf(' ') + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
            {
                sum += value;
            }
        }

        return sum;
    }

    /// <summary>Re-checks a condition over external processes (they offer no events) until it holds; bounded.</summary>
    private static async Task PollAsync(Func<Task<bool>> condition, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!await condition())
        {
            if (DateTime.UtcNow >= deadline)
            {
                throw new TimeoutException($"Timed out after {timeout.TotalSeconds:0} s waiting for {what}.");
            }

            await Task.Delay(200);
        }
    }

    private static async Task DelayUntilAsync(DateTime until)
    {
        var remaining = until - DateTime.UtcNow;
        if (remaining > TimeSpan.Zero)
        {
            // The fault's minimum length: time itself is what is being waited for.
            await Task.Delay(remaining);
        }
    }
}
