using System.Diagnostics.Metrics;
using FastProxy.Configuration;
using FastProxy.Forwarding;
using FastProxy.Identity;
using FastProxy.Tests.Support;
using Microsoft.Extensions.Logging.Abstractions;
using FastProxy.Telemetry;

namespace FastProxy.Tests.Telemetry;

public sealed class PrometheusScrapeTests
{
    [Fact]
    public void CountersHistogramsAndGauges_WrittenInTextFormat()
    {
        using var metrics = new ProxyMetrics();
        using var scrape = new PrometheusScrape(metrics.Meter);

        metrics.RequestStarted("default");
        metrics.RequestCompleted("default", "POST", "2xx", TimeSpan.FromMilliseconds(20));
        metrics.RequestStarted("default");
        metrics.RequestCompleted("default", "POST", "2xx", TimeSpan.FromSeconds(2));
        metrics.RequestBytes("default", 100);
        metrics.RequestBytes("default", 23);
        metrics.Failed(ForwarderError.UpstreamTls);
        metrics.Failed(ForwarderError.NoToken);

        var text = scrape.Collect();

        Assert.Contains("# TYPE fastproxy_requests_total counter\n", text, StringComparison.Ordinal);
        Assert.Contains("fastproxy_requests_total{route=\"default\",method=\"POST\",status_class=\"2xx\"} 2\n", text, StringComparison.Ordinal);
        Assert.Contains("fastproxy_request_bytes_total{route=\"default\"} 123\n", text, StringComparison.Ordinal);
        Assert.Contains("# TYPE fastproxy_requests_in_flight gauge\n", text, StringComparison.Ordinal);
        Assert.Contains("fastproxy_requests_in_flight{route=\"default\"} 0\n", text, StringComparison.Ordinal);
        Assert.Contains("# TYPE fastproxy_request_duration_seconds histogram\n", text, StringComparison.Ordinal);
        Assert.Contains("fastproxy_request_duration_seconds_bucket{route=\"default\",status_class=\"2xx\",le=\"0.01\"} 0\n", text, StringComparison.Ordinal);
        Assert.Contains("fastproxy_request_duration_seconds_bucket{route=\"default\",status_class=\"2xx\",le=\"0.025\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("fastproxy_request_duration_seconds_bucket{route=\"default\",status_class=\"2xx\",le=\"2.5\"} 2\n", text, StringComparison.Ordinal);
        Assert.Contains("fastproxy_request_duration_seconds_bucket{route=\"default\",status_class=\"2xx\",le=\"+Inf\"} 2\n", text, StringComparison.Ordinal);
        Assert.Contains("fastproxy_request_duration_seconds_sum{route=\"default\",status_class=\"2xx\"} 2.02\n", text, StringComparison.Ordinal);
        Assert.Contains("fastproxy_request_duration_seconds_count{route=\"default\",status_class=\"2xx\"} 2\n", text, StringComparison.Ordinal);
        Assert.Contains("fastproxy_upstream_errors_total{kind=\"tls\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("fastproxy_proxy_errors_total{kind=\"no_token\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("fastproxy_build_info{version=\"", text, StringComparison.Ordinal);
    }

    [Fact]
    public void OtherMetersAndServers_AreNotMixedIn()
    {
        using var mine = new ProxyMetrics();
        using var other = new ProxyMetrics();
        using var scrape = new PrometheusScrape(mine.Meter);

        other.RequestBytes("default", 999);
        mine.RequestBytes("default", 1);

        Assert.Contains("fastproxy_request_bytes_total{route=\"default\"} 1\n", scrape.Collect(), StringComparison.Ordinal);
    }

    [Fact]
    public void SeriesLookup_EqualTextIsOneSeries_LookalikeTextIsAnother()
    {
        using var metrics = new ProxyMetrics();
        using var scrape = new PrometheusScrape(metrics.Meter);
        // Same length, first, middle and last characters: the lookup's hash cannot tell them apart.
        var route = "ingest-a";
        var sameTextOtherInstance = new string(route.AsSpan());
        var lookalike = "iXXXsXXa";

        metrics.RequestBytes(route, 1);
        metrics.RequestBytes(sameTextOtherInstance, 2);
        metrics.RequestBytes(lookalike, 40);

        var text = scrape.Collect();
        Assert.Contains("fastproxy_request_bytes_total{route=\"ingest-a\"} 3\n", text, StringComparison.Ordinal);
        Assert.Contains("fastproxy_request_bytes_total{route=\"iXXXsXXa\"} 40\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public void SeriesLookup_AlternatingLabels_EachMeasurementLandsInItsOwnSeries()
    {
        using var metrics = new ProxyMetrics();
        using var scrape = new PrometheusScrape(metrics.Meter);

        // Each measurement differs from the one before it in one label: the first, second or third.
        for (var i = 0; i < 3; i++)
        {
            metrics.RequestCompleted("default", "POST", "2xx", TimeSpan.FromMilliseconds(1));
            metrics.RequestCompleted("default", "POST", "5xx", TimeSpan.FromMilliseconds(1));
            metrics.RequestCompleted("default", "GET", "5xx", TimeSpan.FromMilliseconds(1));
            metrics.RequestCompleted("other", "GET", "5xx", TimeSpan.FromMilliseconds(1));
        }

        var text = scrape.Collect();
        string[] expected =
        [
            "fastproxy_requests_total{route=\"default\",method=\"POST\",status_class=\"2xx\"} 3\n",
            "fastproxy_requests_total{route=\"default\",method=\"POST\",status_class=\"5xx\"} 3\n",
            "fastproxy_requests_total{route=\"default\",method=\"GET\",status_class=\"5xx\"} 3\n",
            "fastproxy_requests_total{route=\"other\",method=\"GET\",status_class=\"5xx\"} 3\n",
            "fastproxy_request_duration_seconds_count{route=\"default\",status_class=\"5xx\"} 6\n",
        ];
        Assert.All(expected, sample => Assert.Contains(sample, text, StringComparison.Ordinal));
    }

    [Fact]
    public void ObservableSeries_EachScrapeReportsCurrentValues_AndDropsTheGoneOnes()
    {
        using var metrics = new ProxyMetrics();
        using var scrape = new PrometheusScrape(metrics.Meter);
        var scope = new KeyValuePair<string, object?>("scope", "a");
        var other = new KeyValuePair<string, object?>("scope", "b");
        // "a" last, so the next scrape's first measurement carries the labels of this one's last.
        Measurement<long>[] current = [new(7, other), new(1, scope)];
        metrics.Meter.CreateObservableGauge("test_gauge", () => current);

        var first = scrape.Collect();
        current = [new(2, scope)];
        var second = scrape.Collect();

        Assert.Contains("test_gauge{scope=\"a\"} 1\n", first, StringComparison.Ordinal);
        Assert.Contains("test_gauge{scope=\"b\"} 7\n", first, StringComparison.Ordinal);
        Assert.Contains("test_gauge{scope=\"a\"} 2\n", second, StringComparison.Ordinal);
        Assert.DoesNotContain("scope=\"b\"", second, StringComparison.Ordinal);
    }

    [Fact]
    public void TokenSeries_OfOneScopeAskedByTwoIdentities_AreTwoSeries()
    {
        const string Scope = "https://monitor.azure.com/.default";
        var writer = new IdentityOptions(IdentityType.UserAssigned, "abcd1234-1243-abcd-9876-1234abcd5678");
        var process = new IdentityOptions(IdentityType.SystemAssigned, null);
        var credential = new ScriptedCredential();
        TokenSource[] sources =
        [
            new(Scope, Scope, credential, 10, TimeProvider.System, NullLogger.Instance, process.MetricLabel),
            new(Scope + " as writer", Scope, credential, 10, TimeProvider.System, NullLogger.Instance, writer.MetricLabel),
        ];
        using var metrics = new ProxyMetrics(() => sources);
        using var scrape = new PrometheusScrape(metrics.Meter);
        metrics.TokenFetched(Scope, writer.MetricLabel, "success", TimeSpan.FromMilliseconds(5));

        var text = scrape.Collect();

        Assert.Contains($"fastproxy_token_usable{{scope=\"{Scope}\",identity=\"systemassigned\"}} 0\n", text, StringComparison.Ordinal);
        Assert.Contains($"fastproxy_token_usable{{scope=\"{Scope}\",identity=\"userassigned:abcd1234-1243-abcd-9876-1234abcd5678\"}} 0\n", text, StringComparison.Ordinal);
        Assert.Contains($"fastproxy_token_refreshes_total{{scope=\"{Scope}\",identity=\"userassigned:abcd1234-1243-abcd-9876-1234abcd5678\",outcome=\"success\"}} 1\n", text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("SystemAssigned", null, null, "systemassigned")]
    [InlineData("UserAssigned", "abcd1234-1243-abcd-9876-1234abcd5678", null, "userassigned:abcd1234-1243-abcd-9876-1234abcd5678")]
    [InlineData("UserAssigned", null, "/subscriptions/s/resourceGroups/g/providers/Microsoft.ManagedIdentity/userAssignedIdentities/writer", "userassigned:writer")]
    [InlineData("AadApplication", "app-id", null, "aadapplication:app-id")]
    [InlineData("WorkloadIdentity", "wi-id", null, "workloadidentity:wi-id")]
    [InlineData("AzureCli", null, null, "azurecli")]
    public void IdentityMetricLabel_IsTypeAndSelectingId_NeverPathsOrSecrets(string type, string? clientId, string? resourceId, string expected)
    {
        var identity = new IdentityOptions(Enum.Parse<IdentityType>(type), clientId)
        {
            ResourceId = resourceId,
            CertificatePath = "/secrets/app.pfx",
            ClientSecret = SecretSource.FromValue("s3cret", "AAD_CLIENT_SECRET"),
        };

        Assert.Equal(expected, identity.MetricLabel);
    }

    [Fact]
    public void LabelValues_AreEscaped()
    {
        using var meter = new Meter(ProxyMetrics.MeterName);
        using var scrape = new PrometheusScrape(meter);
        meter.CreateCounter<long>("t_total").Add(1, new KeyValuePair<string, object?>("route", "a\"b\\c\nd"));

        Assert.Contains("t_total{route=\"a\\\"b\\\\c\\nd\"} 1\n", scrape.Collect(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("GET", "GET")]
    [InlineData("POST", "POST")]
    [InlineData("PROPFIND", "other")]
    [InlineData("get", "other")]
    public void MethodLabel_IsFromAFixedSet(string method, string label) => Assert.Equal(label, ProxyMetrics.MethodLabel(method));

    [Theory]
    [InlineData(nameof(ForwarderError.UpstreamUnreachable), true, "connect")]
    [InlineData(nameof(ForwarderError.UpstreamTls), true, "tls")]
    [InlineData(nameof(ForwarderError.UpstreamTimeout), true, "timeout")]
    [InlineData(nameof(ForwarderError.UpstreamProtocol), true, "protocol")]
    [InlineData(nameof(ForwarderError.RequestBodyUpstream), true, "reset")]
    [InlineData(nameof(ForwarderError.ResponseBodyUpstream), true, "reset")]
    [InlineData(nameof(ForwarderError.NoToken), false, "no_token")]
    [InlineData(nameof(ForwarderError.RequestTargetRejected), false, "bad_request_target")]
    [InlineData(nameof(ForwarderError.RequestBodyInvalid), false, "bad_request_body")]
    [InlineData(nameof(ForwarderError.RequestBodyClient), false, "client_gone")]
    [InlineData(nameof(ForwarderError.ResponseBodyClient), false, "client_gone")]
    [InlineData(nameof(ForwarderError.InboundUnauthorized), false, "unauthorized")]
    [InlineData(nameof(ForwarderError.SourceNotAllowed), false, "forbidden_source")]
    [InlineData(nameof(ForwarderError.RequestBodyTooLarge), false, "body_too_large")]
    [InlineData(nameof(ForwarderError.NoRoute), false, "no_route")]
    [InlineData(nameof(ForwarderError.ConcurrencyLimitReached), false, "concurrency_limit")]
    [InlineData(nameof(ForwarderError.ClientCertificateRejected), false, "client_certificate")]
    public void ErrorKind_MapsEveryForwarderError(string error, bool upstream, string kind) =>
        Assert.Equal((upstream, kind), ProxyMetrics.ErrorKind(Enum.Parse<ForwarderError>(error)));

    [Fact]
    public void ErrorKind_CoversEveryForwarderError() =>
        Assert.Equal(17, Enum.GetValues<ForwarderError>().Length);
}
