using System.Text.RegularExpressions;
using FastProxy.Configuration;

namespace FastProxy.Tests.Configuration;

/// <summary>
/// Every setting of <see cref="Settings.All"/> that can be given a wrong value has a case here, and
/// each wrong value gets one line naming the variable (or flag) it came from, what is wrong and
/// what to give instead, in words: no stack trace, no exception type. A new setting fails
/// <see cref="EverySetting_HasAnInvalidValueCase"/> until it gets a case or is listed in
/// <see cref="AcceptsAnyValue"/> with the reason.
/// </summary>
public sealed partial class InvalidSettingValueTests
{
    /// <summary>One invalid value, the environment it is judged in, and what the message must say.</summary>
    /// <param name="Context">Other variables (null removes one), for settings read only with a given identity or source.</param>
    /// <param name="Wrong">The part of the message that says what is wrong.</param>
    /// <param name="Fix">The part that says what to give instead.</param>
    internal sealed record Case(Setting Setting, string Value, string Wrong, string Fix, params (string Name, string? Value)[] Context);

    private const string ClientId = "abcd1234-1243-abcd-9876-1234abcd5678";
    private static readonly (string, string?)[] Application = [("IDENTITY_TYPE", "aadapplication"), ("AAD_CLIENT_ID", ClientId), ("AAD_TENANT_ID", "contoso.onmicrosoft.com"), ("AAD_CLIENT_CERTIFICATE_PATH", "/certs/app.pfx")];
    private static readonly (string, string?)[] NoTargetHost = [("TARGET_HOST", null)];
    private static readonly string MissingFile = Path.Combine(Path.GetTempPath(), "fastproxy-no-such-dir", "missing");

    /// <summary>Settings for which no value is invalid when the configuration is read, and why.</summary>
    internal static readonly IReadOnlyDictionary<Setting, string> AcceptsAnyValue = new Dictionary<Setting, string>
    {
        [Settings.ClientCertificatePath] = "a path, read when a token is fetched (a CSI volume may be mounted after start); a missing file is reported then, on /ready and in the log (Identity/CredentialFileTests)",
        [Settings.ClientCertificatePasswordFile] = "a path, read with the certificate (Identity/CredentialFileTests)",
        [Settings.ClientSecretFile] = "a path, read when a token is fetched (Identity/CredentialFileTests)",
        [Settings.FederatedTokenFile] = "a path, re-read at every token request so Kubernetes' rotation is followed (Identity/CredentialFileTests)",
        [Settings.ClientCertificatePassword] = "a secret: any string",
        [Settings.ClientSecret] = "a secret: any string",
        [Settings.OtelServiceName] = "a free-form name",
    };

    internal static readonly IReadOnlyList<Case> Cases =
    [
        new(Settings.TargetHost, "ftp://example.com", "scheme 'ftp' is not supported", "use https://"),
        new(Settings.TargetHost, "https://user:pw@example.com", "must not contain user information", "authenticates with the Entra token"),
        new(Settings.IngestionUrl, "https://example.com", "has no path", "copy the full 'Metrics ingestion endpoint'", NoTargetHost),
        new(Settings.RoutesFile, MissingFile, "does not exist", "check the path", NoTargetHost),
        new(Settings.ListeningPort, "eighty", "'eighty' is not a whole number", "from 1 to 65535"),
        new(Settings.ListenAddress, "my-host", "'my-host' is not an IP address", "use * (all interfaces), 127.0.0.1"),
        new(Settings.H2cPort, "65536", "'65536' is not a whole number", "from 1 to 65535"),
        new(Settings.IdentityType, "managed", "'managed' is not an identity type", "use systemassigned, userassigned"),
        new(Settings.ClientId, "my-app", "'my-app' is not a client id", "a GUID such as", ("IDENTITY_TYPE", "userassigned")),
        new(Settings.ResourceId, "/subscriptions/x", "is not a managed identity resource id", "/subscriptions/<id>/resourceGroups/<group>", ("IDENTITY_TYPE", "userassigned")),
        new(Settings.ObjectId, "the-object", "'the-object' is not an object id", "a GUID such as", ("IDENTITY_TYPE", "userassigned")),
        new(Settings.TenantId, "contoso tenant", "'contoso tenant' is not a tenant id", "a GUID, or a domain such as", Application),
        new(Settings.SendCertificateChain, "maybe", "'maybe' is not true or false", "true or false", Application),
        new(Settings.Cloud, "AZUREMARS", "'AZUREMARS' is not a cloud", "use AZUREPUBLIC, AZUREGOVERNMENT"),
        new(Settings.AuthorityHost, "http://login.example", "is not an authority host", "use https://host[:port]", Application),
        new(Settings.DisableInstanceDiscovery, "maybe", "'maybe' is not true or false", "true or false"),
        new(Settings.Audience, "monitor", "'monitor' is not an audience", "use e.g. https://monitor.azure.com/.default"),
        new(Settings.WaitForToken, "-1", "'-1' is not a number of seconds", "from 0 to 3600"),
        new(Settings.RefreshPercentage, "100", "'100' is not a whole number", "from 1 to 99"),
        new(Settings.OverrideRequestHeaders, "{\"x-a\":\"b\"", "is not valid JSON at line 1, position", "use an object such as"),
        new(Settings.OverrideRequestHeaders, "{\"x-a\":1}", "header 'x-a' must have a string value", "string value"),
        new(Settings.OtelGrpcEndpoint, "ftp://collector:4317", "is not an endpoint", "use host:port or http://host:port"),
        new(Settings.UpstreamTimeout, "0", "'0' is not a number of seconds", "above 0 and at most 86400"),
        new(Settings.ConnectTimeout, "ten", "'ten' is not a number of seconds", "above 0 and at most 86400"),
        new(Settings.MaxConnectionsPerServer, "0", "'0' is not a whole number", "from 1 to 65535"),
        new(Settings.PooledConnectionLifetime, "-5", "'-5' is not a number of seconds", "above 0 and at most 86400"),
        new(Settings.DrainTimeout, "Infinity", "'Infinity' is not a number of seconds", "above 0 and at most 86400"),
        new(Settings.LogLevel, "loud", "'loud' is not a log level", "use trace, debug, information, warning or error"),
        new(Settings.UpstreamHttpVersion, "3", "'3' is not an upstream HTTP version", "use 2 (HTTP/2 where an https target offers it) or 1.1"),
        new(Settings.IoCompletions, "epoll", "'epoll' is not an I/O completion mode", "use inline or threadpool"),
        new(Settings.IoThreads, "0", "'0' is not a whole number", "from 1 to 1024"),
        new(Settings.LogFormat, "xml", "'xml' is not a log format", "use json or text"),
        new(Settings.MetricsEnabled, "maybe", "'maybe' is not true or false", "true or false"),
        new(Settings.MetricsPort, "0", "'0' is not a whole number", "from 1 to 65535"),
        new(Settings.TraceSampleRatio, "1.5", "'1.5' is not a ratio", "from 0 to 1"),
        new(Settings.MetricExportInterval, "10", "'10' is not a number of milliseconds", "from 100 to 3600000"),
        new(Settings.LogSummaryInterval, "-1", "'-1' is not a number of seconds", "from 0 (off) to 86400"),
        new(Settings.DiagnosticsSampleEvery, "-1", "'-1' is not a whole number", "from 0 to 1000000"),
        new(Settings.DiagnosticsRecent, "0", "'0' is not a whole number", "from 1 to 1000"),
        new(Settings.DiagnosticsMaxBodyBytes, "1", "'1' is not a whole number", "from 1024 to 67108864"),
        new(Settings.TranslateRemoteWriteV2, "maybe", "'maybe' is not true or false", "true or false"),
        new(Settings.InboundTokenFile, MissingFile, "does not exist", "mount the token's Secret there or correct the path"),
        new(Settings.AllowedSourceCidrs, "10.0.0.1/8", "'10.0.0.1/8' is not a CIDR", "use address/prefix with no host bits set"),
        new(Settings.AllowedSourceCidrs, ",", "lists no CIDR", "unset it to allow every address"),
        new(Settings.MaxRequestBodyBytes, "-1", "'-1' is not a whole number", "of at least 0"),
        new(Settings.MaxRequestHeadersBytes, "lots", "'lots' is not a whole number", "from 1024 to 1048576"),
        new(Settings.MaxRequestHeaderCount, "0", "'0' is not a whole number", "from 1 to 10000"),
        new(Settings.RequestHeadersTimeout, "0", "'0' is not a number of seconds", "above 0 and at most 86400"),
        new(Settings.KeepAliveTimeout, "soon", "'soon' is not a number of seconds", "above 0 and at most 86400"),
        new(Settings.MinRequestBodyDataRate, "-1", "'-1' is not a whole number", "from 0 to 1000000000"),
        new(Settings.MaxConcurrentConnections, "-1", "'-1' is not a whole number", "from 0 to 1000000"),
        new(Settings.MaxConcurrentRequests, "-1", "'-1' is not a whole number", "from 0 to 1000000"),
        new(Settings.TlsCertFile, MissingFile, "does not exist", "mount the TLS Secret there or correct the path"),
        new(Settings.TlsKeyFile, "/etc/fastproxy/tls/tls.key", "needs TLS_CERT_FILE", "set the listener's certificate too, or unset this"),
        new(Settings.TlsKeyPasswordFile, "/etc/fastproxy/tls/password", "needs TLS_CERT_FILE", "set the listener's certificate too, or unset this"),
        new(Settings.TlsClientCaFile, "/etc/fastproxy/tls/ca.crt", "needs TLS_CERT_FILE", "set the listener's certificate too, or unset this"),
        new(Settings.Upstream429As503, "maybe", "'maybe' is not true or false", "true or false"),
        new(Settings.UpstreamAuthErrorsAs503Seconds, "-5", "'-5' is not a number of seconds", "from 0 (off) to 86400"),
    ];

    public static TheoryData<int, string> CaseIndexes()
    {
        var data = new TheoryData<int, string>();
        for (var i = 0; i < Cases.Count; i++)
        {
            data.Add(i, $"{Cases[i].Setting.EnvironmentVariables[0]}={Cases[i].Value}");
        }

        return data;
    }

    // An exception or framework type name such as InvalidOperationException or System.IO, or a
    // resource key the shipped build leaves instead of a message ("ExpectedStartOfPropertyNotFound").
    [GeneratedRegex(@"Exception|System\.|\b[A-Z][a-z]+(?:[A-Z][a-z]+){2,}\b")]
    private static partial Regex MachineText();

    [Fact]
    public void EverySetting_HasAnInvalidValueCase()
    {
        var covered = Cases.Select(c => c.Setting).ToHashSet();
        var missing = Settings.All.Where(s => !covered.Contains(s) && !AcceptsAnyValue.ContainsKey(s)).Select(s => s.EnvironmentVariables[0]).ToList();

        Assert.True(missing.Count == 0,
            $"no invalid-value case for {string.Join(", ", missing)}: add one to {nameof(Cases)}, or list the setting in {nameof(AcceptsAnyValue)} with the reason");
        Assert.DoesNotContain(AcceptsAnyValue.Keys, covered.Contains);
    }

    [Theory]
    [MemberData(nameof(CaseIndexes))]
    public void InvalidValue_FromEachVariable_IsOneLineNamingItWhatIsWrongAndWhatToDo(int index, string label)
    {
        var bad = Cases[index];
        foreach (var variable in bad.Setting.EnvironmentVariables)
        {
            var environment = Environment(bad);
            foreach (var other in bad.Setting.EnvironmentVariables)
            {
                // The first variable set wins: leave only the one under test.
                environment[other] = null;
            }

            environment[variable] = bad.Value;

            var result = Load(environment, []);

            AssertOneClearLine(result, variable, bad, label);
        }
    }

    [Theory]
    [MemberData(nameof(CaseIndexes))]
    public void InvalidValue_FromTheFlag_IsOneLineNamingTheFlag(int index, string label)
    {
        var bad = Cases[index];

        var environment = Environment(bad);
        foreach (var variable in bad.Setting.EnvironmentVariables)
        {
            environment[variable] = null;
        }

        var result = Load(environment, new Dictionary<Setting, string?> { [bad.Setting] = bad.Value });

        AssertOneClearLine(result, bad.Setting.OptionName, bad, label);
    }

    private static void AssertOneClearLine(ConfigurationResult result, string source, Case bad, string label)
    {
        Assert.False(result.IsValid, $"{label} was accepted");
        var error = Assert.Single(result.Errors);
        Assert.StartsWith(source + " ", error, StringComparison.Ordinal);
        Assert.Contains(bad.Wrong, error, StringComparison.Ordinal);
        Assert.Contains(bad.Fix, error, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", error, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', error);
        Assert.False(MachineText().IsMatch(error), $"machine text in: {error}");
    }

    private static Dictionary<string, string?> Environment(Case bad)
    {
        var environment = new Dictionary<string, string?>(StringComparer.Ordinal)
        {
            ["TARGET_HOST"] = "http://127.0.0.1:9",
            ["IDENTITY_TYPE"] = "systemassigned",
        };
        foreach (var (name, value) in bad.Context)
        {
            environment[name] = value;
        }

        return environment;
    }

    private static ConfigurationResult Load(Dictionary<string, string?> environment, Dictionary<Setting, string?> flags) =>
        new ConfigurationLoader(flags, name => environment.GetValueOrDefault(name)).Load();
}
