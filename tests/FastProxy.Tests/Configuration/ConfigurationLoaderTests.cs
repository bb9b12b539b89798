using FastProxy.Configuration;

namespace FastProxy.Tests.Configuration;

public sealed class ConfigurationLoaderTests
{
    private static ConfigurationResult Load(Dictionary<string, string> environment, Dictionary<Setting, string?>? flags = null) =>
        new ConfigurationLoader(flags ?? [], name => environment.GetValueOrDefault(name)).Load();

    private static Dictionary<string, string> AadAuthProxyEnvironment(params (string Name, string Value)[] extra)
    {
        var environment = new Dictionary<string, string>
        {
            ["TARGET_HOST"] = "myws-abcd.eastus-1.metrics.ingest.monitor.azure.com",
            ["IDENTITY_TYPE"] = "userAssigned",
            ["AAD_CLIENT_ID"] = "abcd1234-1243-abcd-9876-1234abcd5678",
            ["LISTENING_PORT"] = "8081",
        };
        foreach (var (name, value) in extra)
        {
            environment[name] = value;
        }

        return environment;
    }

    [Theory]
    [InlineData(null, true)]
    [InlineData("inline", true)]
    [InlineData("Inline", true)]
    [InlineData("threadpool", false)]
    [InlineData("THREADPOOL", false)]
    public void IoCompletions_DefaultsToInline(string? value, bool inline)
    {
        var result = Load(value is null ? AadAuthProxyEnvironment() : AadAuthProxyEnvironment(("IO_COMPLETIONS", value)));

        Assert.True(result.IsValid, string.Join("\n", result.Errors));
        Assert.Equal(inline, result.Options!.InlineIoCompletions);
        Assert.Contains(inline ? "I/O completions: inline on the socket event threads (one per core)" : "I/O completions: thread pool", result.Options.Describe());
        Assert.Null(result.Options.IoThreads);
    }

    [Theory]
    [InlineData(null, false, "HTTP/2 to https targets that offer it")]
    [InlineData("2", false, "HTTP/2 to https targets that offer it")]
    [InlineData("1.1", true, "HTTP/1.1 to every target")]
    public void UpstreamHttpVersion_DefaultsToHttp2WhereOffered(string? value, bool http11Only, string described)
    {
        var result = Load(value is null ? AadAuthProxyEnvironment() : AadAuthProxyEnvironment(("UPSTREAM_HTTP_VERSION", value)));

        Assert.True(result.IsValid, string.Join("\n", result.Errors));
        Assert.Equal(http11Only, result.Options!.UpstreamHttp11Only);
        Assert.Contains(result.Options.Describe(), line => line.StartsWith("upstream: ", StringComparison.Ordinal) && line.EndsWith(described, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("3")]
    [InlineData("http2")]
    [InlineData("1.0")]
    public void UpstreamHttpVersion_OtherValues_AreRefusedWithTheChoices(string value)
    {
        var result = Load(AadAuthProxyEnvironment(("UPSTREAM_HTTP_VERSION", value)));

        Assert.False(result.IsValid);
        var error = Assert.Single(result.Errors);
        Assert.Contains("UPSTREAM_HTTP_VERSION", error, StringComparison.Ordinal);
        Assert.Contains($"'{value}'", error, StringComparison.Ordinal);
        Assert.Contains("use 2 (HTTP/2 where an https target offers it) or 1.1", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(null, "1", "I/O completions: inline on 1 socket event thread")]
    [InlineData(null, "4", "I/O completions: inline on 4 socket event threads")]
    [InlineData("threadpool", "2", "I/O completions: thread pool, from 2 socket event threads")]
    public void IoThreads_SetsTheEventThreadCount(string? mode, string threads, string described)
    {
        var settings = new List<(string, string)> { ("IO_THREADS", threads) };
        if (mode is not null)
        {
            settings.Add(("IO_COMPLETIONS", mode));
        }

        var result = Load(AadAuthProxyEnvironment([.. settings]));

        Assert.True(result.IsValid, string.Join("\n", result.Errors));
        Assert.Equal(int.Parse(threads, System.Globalization.CultureInfo.InvariantCulture), result.Options!.IoThreads);
        Assert.Contains(described, result.Options.Describe());
    }

    [Fact]
    public void AadAuthProxyEnvironment_GivesDefaults()
    {
        var result = Load(AadAuthProxyEnvironment());

        Assert.True(result.IsValid, string.Join("\n", result.Errors));
        var options = result.Options!;
        var route = Assert.Single(options.Routes);
        Assert.Equal("https://myws-abcd.eastus-1.metrics.ingest.monitor.azure.com", route.Target.Base);
        Assert.Equal(Audience.IngestionScope, route.Scope);
        Assert.Equal(IdentityType.UserAssigned, options.Identity.Type);
        Assert.Equal("abcd1234-1243-abcd-9876-1234abcd5678", options.Identity.ClientId);
        Assert.Equal(8081, options.ListeningPort);
        Assert.Equal(10, options.RefreshPercentage);
        Assert.Null(options.H2cPort);
        Assert.Equal(System.Net.IPAddress.IPv6Any, options.ListenAddress);
        Assert.Equal("aad_auth_proxy", options.OtelServiceName);
    }

    [Fact]
    public void Flag_OverridesEnvironment()
    {
        var flags = new Dictionary<Setting, string?> { [Settings.ListeningPort] = "9000", [Settings.TargetHost] = "http://127.0.0.1:1234" };

        var options = Load(AadAuthProxyEnvironment(), flags).Options!;

        Assert.Equal(9000, options.ListeningPort);
        Assert.Equal("http://127.0.0.1:1234", options.Routes[0].Target.Base);
    }

    [Theory]
    [InlineData("example.com", "https://example.com")]
    [InlineData("example.com/", "https://example.com")]
    [InlineData("https://example.com", "https://example.com")]
    [InlineData("http://10.0.0.1:9090", "http://10.0.0.1:9090")]
    [InlineData("http://svc.ns.svc.cluster.local:8080/prom/", "http://svc.ns.svc.cluster.local:8080/prom")]
    [InlineData("example.com:8443/a/b", "https://example.com:8443/a/b")]
    [InlineData("HTTPS://Example.com", "https://example.com")]
    public void TargetHost_AcceptedForms(string value, string expectedBase)
    {
        var result = Load(AadAuthProxyEnvironment(("TARGET_HOST", value)));

        Assert.True(result.IsValid, string.Join("\n", result.Errors));
        Assert.Equal(expectedBase, result.Options!.Routes[0].Target.Base);
    }

    [Theory]
    [InlineData("ftp://example.com", "scheme 'ftp'")]
    [InlineData("https://user:secret@example.com", "user information")]
    [InlineData("example.com/path?x=1", "query string")]
    [InlineData("https://example.com/#frag", "fragment")]
    [InlineData("https://exa mple.com", "not a valid URL")]
    public void TargetHost_InvalidForms_NameTheProblem(string value, string expected)
    {
        var result = Load(AadAuthProxyEnvironment(("TARGET_HOST", value)));

        var error = Assert.Single(result.Errors);
        Assert.StartsWith("TARGET_HOST ", error, StringComparison.Ordinal);
        Assert.Contains(expected, error, StringComparison.Ordinal);
        Assert.DoesNotContain("secret", error, StringComparison.Ordinal);
    }

    [Fact]
    public void IngestionUrl_RoutesWriteToTheFullUrlAndOtherPathsToItsHost()
    {
        const string url = "https://myws.eastus-1.metrics.ingest.monitor.azure.com/dataCollectionRules/dcr-0123/streams/Microsoft-PrometheusMetrics/api/v1/write?api-version=2023-04-24";
        var environment = new Dictionary<string, string> { ["INGESTION_URL"] = url, ["IDENTITY_TYPE"] = "systemassigned" };

        var result = Load(environment);

        Assert.True(result.IsValid, string.Join("\n", result.Errors));
        var routes = result.Options!.Routes;
        Assert.Equal(2, routes.Count);
        Assert.Equal("/api/v1/write", routes[0].ExactPath);
        Assert.Equal(url, routes[0].Target.Base);
        Assert.Null(routes[1].ExactPath);
        Assert.Equal("https://myws.eastus-1.metrics.ingest.monitor.azure.com", routes[1].Target.Base);
    }

    [Fact]
    public void IngestionUrlWithoutPath_IsAnError()
    {
        var result = Load(new Dictionary<string, string> { ["INGESTION_URL"] = "https://myws.example.com/", ["IDENTITY_TYPE"] = "systemassigned" });

        Assert.Contains(result.Errors, e => e.StartsWith("INGESTION_URL has no path", StringComparison.Ordinal));
    }

    [Fact]
    public void TargetHostAndIngestionUrl_Together_AreAnError()
    {
        var result = Load(AadAuthProxyEnvironment(("INGESTION_URL", "https://example.com/api/v1/write")));

        Assert.Contains(result.Errors, e => e.Contains("set only one", StringComparison.Ordinal));
    }

    [Fact]
    public void NoTarget_IsAnError()
    {
        var result = Load(new Dictionary<string, string> { ["IDENTITY_TYPE"] = "systemassigned" });

        Assert.Contains(result.Errors, e => e.StartsWith("TARGET_HOST is not set", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("systemassigned", "SystemAssigned")]
    [InlineData("SystemAssigned", "SystemAssigned")]
    [InlineData("userAssigned", "UserAssigned")]
    [InlineData("USERASSIGNED", "UserAssigned")]
    public void IdentityType_IsCaseInsensitive(string value, string expected)
    {
        var result = Load(AadAuthProxyEnvironment(("IDENTITY_TYPE", value)));

        Assert.True(result.IsValid, string.Join("\n", result.Errors));
        Assert.Equal(expected, result.Options!.Identity.Type.ToString());
    }

    [Fact]
    public void UserAssigned_AcceptsTheSidecarsAzureClientId()
    {
        var environment = AadAuthProxyEnvironment();
        environment.Remove("AAD_CLIENT_ID");
        environment["AZURE_CLIENT_ID"] = "11111111-2222-3333-4444-555555555555";

        var options = Load(environment).Options!;

        Assert.Equal("11111111-2222-3333-4444-555555555555", options.Identity.ClientId);
    }

    [Theory]
    [InlineData("IDENTITY_TYPE", "managed", "IDENTITY_TYPE 'managed' is not an identity type")]
    [InlineData("AAD_CLIENT_ID", "not-a-guid", "AAD_CLIENT_ID 'not-a-guid' is not a client id")]
    [InlineData("LISTENING_PORT", "80a", "LISTENING_PORT '80a' is not a whole number from 1 to 65535")]
    [InlineData("LISTENING_PORT", "70000", "LISTENING_PORT '70000' is not a whole number")]
    [InlineData("H2C_PORT", "8081", "H2C_PORT is the same port as LISTENING_PORT")]
    [InlineData("LISTEN_ADDRESS", "my-host", "LISTEN_ADDRESS 'my-host' is not an IP address")]
    [InlineData("AAD_TOKEN_REFRESH_INTERVAL_IN_PERCENTAGE", "0", "AAD_TOKEN_REFRESH_INTERVAL_IN_PERCENTAGE '0' is not a whole number from 1 to 99")]
    [InlineData("AAD_TOKEN_REFRESH_INTERVAL_IN_PERCENTAGE", "100", "from 1 to 99")]
    [InlineData("AAD_TOKEN_REFRESH_INTERVAL_IN_PERCENTAGE", "ten", "'ten' is not a whole number")]
    [InlineData("AUDIENCE", "monitor", "AUDIENCE 'monitor' is not an audience")]
    [InlineData("UPSTREAM_TIMEOUT_SECONDS", "-1", "UPSTREAM_TIMEOUT_SECONDS '-1' is not a number of seconds")]
    [InlineData("UPSTREAM_CONNECT_TIMEOUT_SECONDS", "NaN", "is not a number of seconds")]
    [InlineData("MAX_CONNECTIONS_PER_SERVER", "0", "MAX_CONNECTIONS_PER_SERVER '0'")]
    [InlineData("LOG_LEVEL", "loud", "LOG_LEVEL 'loud' is not a log level")]
    [InlineData("LOG_FORMAT", "xml", "LOG_FORMAT 'xml' is not a log format")]
    [InlineData("OTEL_GRPC_ENDPOINT", "ftp://collector:4317", "OTEL_GRPC_ENDPOINT 'ftp://collector:4317' is not an endpoint")]
    [InlineData("OVERRIDE_REQUEST_HEADERS", "{not json", "OVERRIDE_REQUEST_HEADERS is not valid JSON")]
    [InlineData("OVERRIDE_REQUEST_HEADERS", "[\"a\"]", "must be a JSON object")]
    [InlineData("OVERRIDE_REQUEST_HEADERS", "{\"x-a\":1}", "header 'x-a' must have a string value")]
    [InlineData("OVERRIDE_REQUEST_HEADERS", "{\"x-a\":\"ok\\r\\nX-Injected: 1\"}", "contains CR, LF or NUL")]
    [InlineData("OVERRIDE_REQUEST_HEADERS", "{\"bad name\":\"v\"}", "'bad name' is not a valid header name")]
    [InlineData("OVERRIDE_REQUEST_HEADERS", "{\"Authorization\":\"Bearer x\"}", "header 'Authorization' cannot be overridden")]
    [InlineData("OVERRIDE_REQUEST_HEADERS", "{\"Host\":\"evil\"}", "header 'Host' cannot be overridden")]
    public void InvalidValue_IsOneClearLine(string name, string value, string expected)
    {
        var result = Load(AadAuthProxyEnvironment((name, value)));

        Assert.False(result.IsValid);
        var error = Assert.Single(result.Errors);
        Assert.Contains(expected, error, StringComparison.Ordinal);
    }

    [Fact]
    public void UserAssignedWithoutClientId_SaysWhatToSet()
    {
        var environment = AadAuthProxyEnvironment();
        environment.Remove("AAD_CLIENT_ID");

        var error = Assert.Single(Load(environment).Errors);

        Assert.Contains("AAD_CLIENT_ID is required when IDENTITY_TYPE is userassigned", error, StringComparison.Ordinal);
    }

    [Fact]
    public void EveryProblem_IsReportedAtOnce()
    {
        var result = Load(new Dictionary<string, string>
        {
            ["LISTENING_PORT"] = "x",
            ["AAD_TOKEN_REFRESH_INTERVAL_IN_PERCENTAGE"] = "200",
            ["OVERRIDE_REQUEST_HEADERS"] = "{",
        });

        Assert.Equal(4, result.Errors.Count); // target, port, percentage, headers (no IDENTITY_TYPE means default)
        Assert.Null(result.Options);
    }

    [Fact]
    public void OverrideRequestHeaders_AreKeptInOrder()
    {
        var result = Load(AadAuthProxyEnvironment(("OVERRIDE_REQUEST_HEADERS", "{\"x-ms-a\":\"1\",\"User-Agent\":\"fp\"}")));

        Assert.Equal([new("x-ms-a", "1"), new("User-Agent", "fp")], result.Options!.OverrideRequestHeaders);
    }

    [Theory]
    [InlineData("https://monitor.azure.com", Audience.IngestionScope)]
    [InlineData("https://monitor.azure.com/", Audience.IngestionScope)]
    [InlineData("https://monitor.azure.com/.default", Audience.IngestionScope)]
    [InlineData("https://monitor.azure.com//.default", Audience.IngestionScope)]
    [InlineData("https://prometheus.monitor.azure.com", Audience.QueryScope)]
    [InlineData(" https://prometheus.monitor.azure.com/.default ", Audience.QueryScope)]
    public void Audience_AllFormsGiveTheSameScope(string audience, string scope)
    {
        var result = Load(AadAuthProxyEnvironment(("AUDIENCE", audience)));

        Assert.Equal(scope, result.Options!.Routes[0].Scope);
    }

    [Fact]
    public void QueryEndpointTarget_DefaultsToTheQueryAudience()
    {
        var result = Load(AadAuthProxyEnvironment(("TARGET_HOST", "https://myws-abcd.eastus.prometheus.monitor.azure.com")));

        Assert.Equal(Audience.QueryScope, result.Options!.Routes[0].Scope);
    }

    [Fact]
    public void Describe_LeavesOverrideValuesOut()
    {
        var options = Load(AadAuthProxyEnvironment(("OVERRIDE_REQUEST_HEADERS", "{\"x-api-key\":\"s3cr3t-value\"}"))).Options!;

        var text = string.Join("\n", options.Describe());

        Assert.Contains("x-api-key", text, StringComparison.Ordinal);
        Assert.DoesNotContain("s3cr3t-value", text, StringComparison.Ordinal);
    }

    [Fact]
    public void EverySetting_HasAFlagAndAVariable()
    {
        Assert.All(Settings.All, s =>
        {
            Assert.StartsWith("--", s.OptionName, StringComparison.Ordinal);
            Assert.NotEmpty(s.EnvironmentVariables);
            Assert.False(string.IsNullOrWhiteSpace(s.Description));
        });
        Assert.Equal(Settings.All.Count, Settings.All.Select(s => s.Flag).Distinct().Count());
    }
}
