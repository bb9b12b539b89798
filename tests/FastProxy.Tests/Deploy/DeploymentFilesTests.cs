using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using FastProxy.Configuration;
using YamlDotNet.RepresentationModel;

namespace FastProxy.Tests.Deploy;

/// <summary>
/// Checks the deployment files against the code: the plain manifests in deploy/manifests and the
/// Helm chart in deploy/helm/fastproxy, rendered with `helm template` for its default values and
/// for every documented mode (ci/*-values.yaml). Every environment variable they set must be one
/// the configuration parser knows, the probes must be GET /health and GET /ready on the listening
/// port (on METRICS_PORT when set; HTTPS when the listener has TLS), and every file a setting names
/// must lie in a directory mounted whole (no subPath, so rotated Secrets are followed).
/// </summary>
/// <remarks>
/// helm comes from the cache that deploy/check.sh fills (FASTPROXY_TOOLS, default
/// ~/.cache/fastproxy-tools), from FASTPROXY_HELM, or from PATH. Without it the chart tests are
/// skipped, unless FASTPROXY_REQUIRE_TOOLS=1 (CI), where they fail.
/// </remarks>
public sealed class DeploymentFilesTests
{
    private const string DefaultCase = "default";
    private const string ExampleTargetHost = "https://example-workspace.eastus-1.metrics.ingest.monitor.azure.com";
    private const int DefaultListeningPort = 8081;
    private const string TlsMtlsCase = "tls-mtls-values.yaml";

    /// <summary>Settings that name a file the pod must be given (mounted from a Secret or CSI volume).</summary>
    private static readonly string[] FileSettings =
    [
        "TLS_CERT_FILE", "TLS_KEY_FILE", "TLS_KEY_PASSWORD_FILE", "TLS_CLIENT_CA_FILE", "INBOUND_TOKEN_FILE", "AAD_CLIENT_CERTIFICATE_PATH", "ROUTES_FILE",
    ];

    /// <summary>aad-auth-proxy's Helm values, which the chart keeps by name.</summary>
    private static readonly string[] AadAuthProxyValues =
    [
        "targetHost", "identityType", "aadClientId", "aadTenantId", "aadClientCertificatePath",
        "aadTokenRefreshIntervalInPercentage", "audience", "listeningPort", "otelServiceName", "otelGrpcEndpoint",
    ];

    private static readonly string RepoRoot = Support.Repository.Root;
    private static readonly string ChartDirectory = Path.Combine(RepoRoot, "deploy", "helm", "fastproxy");
    private static readonly string ManifestsDirectory = Path.Combine(RepoRoot, "deploy", "manifests");
    private static readonly ConcurrentDictionary<string, Lazy<string>> RenderedCases = new(StringComparer.Ordinal);

    public static TheoryData<string> ManifestFiles()
    {
        var data = new TheoryData<string>();
        foreach (var path in Directory.GetFiles(ManifestsDirectory, "*.yaml").Order(StringComparer.Ordinal))
        {
            data.Add(Path.GetFileName(path));
        }

        return data;
    }

    public static TheoryData<string> ChartCases()
    {
        var data = new TheoryData<string> { DefaultCase };
        foreach (var path in Directory.GetFiles(Path.Combine(ChartDirectory, "ci"), "*.yaml").Order(StringComparer.Ordinal))
        {
            data.Add(Path.GetFileName(path));
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(ManifestFiles))]
    public void Manifest_sets_only_environment_variables_FastProxy_knows(string file)
    {
        var documents = LoadDocuments(File.ReadAllText(Path.Combine(ManifestsDirectory, file)));

        AssertOnlyKnownEnvironmentVariables(documents, $"deploy/manifests/{file}");
    }

    [Theory]
    [MemberData(nameof(ChartCases))]
    public void Chart_sets_only_environment_variables_FastProxy_knows(string chartCase)
    {
        var documents = LoadDocuments(RenderChartCase(chartCase));

        AssertOnlyKnownEnvironmentVariables(documents, $"helm template ({chartCase})");
    }

    [Theory]
    [MemberData(nameof(ManifestFiles))]
    public void Manifest_probes_are_health_and_ready_on_the_listening_or_metrics_port(string file)
    {
        var documents = LoadDocuments(File.ReadAllText(Path.Combine(ManifestsDirectory, file)));

        AssertProbesMatchServingPort(documents, $"deploy/manifests/{file}");
    }

    [Theory]
    [MemberData(nameof(ChartCases))]
    public void Chart_probes_are_health_and_ready_on_the_listening_or_metrics_port(string chartCase)
    {
        var documents = LoadDocuments(RenderChartCase(chartCase));

        AssertProbesMatchServingPort(documents, $"helm template ({chartCase})");
        var deployments = documents.OfType<YamlMappingNode>().Where(d => Scalar(d, "kind") == "Deployment").ToList();
        Assert.Single(deployments);
    }

    [Theory]
    [MemberData(nameof(ChartCases))]
    public void Chart_files_named_by_settings_lie_in_directories_mounted_whole(string chartCase)
    {
        var documents = LoadDocuments(RenderChartCase(chartCase));

        foreach (var container in Containers(documents))
        {
            var env = EnvironmentValues(container);
            var mounts = Sequence(container, "volumeMounts").OfType<YamlMappingNode>().ToList();
            foreach (var setting in FileSettings.Where(env.ContainsKey))
            {
                var directory = Path.GetDirectoryName(env[setting])!;
                var mount = mounts.FirstOrDefault(m => string.Equals(Scalar(m, "mountPath")?.TrimEnd('/'), directory, StringComparison.Ordinal));
                if (mount is null)
                {
                    Assert.Fail($"helm template ({chartCase}): {setting}={env[setting]} but nothing is mounted at {directory}");
                }

                // A subPath mount is a copy the kubelet never updates: a renewed certificate or token would not be seen.
                Assert.Null(Scalar(mount, "subPath"));
                Assert.Equal("true", Scalar(mount, "readOnly"));
            }
        }
    }

    [Theory]
    [MemberData(nameof(ChartCases))]
    public void Chart_service_monitor_scrapes_the_port_that_serves_metrics(string chartCase)
    {
        var documents = LoadDocuments(RenderChartCase(chartCase));
        var monitor = Objects(documents, "ServiceMonitor").SingleOrDefault();
        if (monitor is null)
        {
            return;
        }

        var env = EnvironmentValues(Assert.Single(Containers(documents)));
        var endpoint = Assert.IsType<YamlMappingNode>(Assert.Single(Sequence(Child<YamlMappingNode>(monitor, "spec"), "endpoints")));
        var service = Assert.Single(Objects(documents, "Service"));
        var servicePorts = Sequence(Child<YamlMappingNode>(service, "spec"), "ports").OfType<YamlMappingNode>().ToList();

        var (expectedPort, expectedScheme) = env.ContainsKey("METRICS_PORT") ? ("metrics", "http")
            : env.ContainsKey("TLS_CERT_FILE") ? ("https", "https") : ("http", "http");

        Assert.Equal(expectedPort, Scalar(endpoint, "port"));
        Assert.Equal(expectedScheme, Scalar(endpoint, "scheme"));
        Assert.Equal("/metrics", Scalar(endpoint, "path"));
        Assert.Contains(servicePorts, p => Scalar(p, "name") == expectedPort && Scalar(p, "targetPort") == expectedPort);
        if (expectedScheme == "https" && Child(endpoint, "tlsConfig") is null)
        {
            Assert.Fail($"helm template ({chartCase}): an https ServiceMonitor endpoint needs a tlsConfig (the certificate does not name the pod IP)");
        }
    }

    [Fact]
    public void Chart_mtls_mounts_the_tls_and_client_ca_secrets_where_the_settings_point()
    {
        var documents = LoadDocuments(RenderChartCase(TlsMtlsCase));
        var values = Assert.IsType<YamlMappingNode>(LoadDocuments(File.ReadAllText(Path.Combine(ChartDirectory, "ci", TlsMtlsCase))).Single());
        var tlsValues = Child<YamlMappingNode>(values, "tls");
        var container = Assert.Single(Containers(documents));
        var env = EnvironmentValues(container);

        var tlsDirectory = SecretMountPath(documents, container, Scalar(tlsValues, "secretName")!);
        var caDirectory = SecretMountPath(documents, container, Scalar(tlsValues, "clientCaSecretName")!);

        Assert.Equal($"{tlsDirectory}/tls.crt", env["TLS_CERT_FILE"]);
        Assert.Equal($"{tlsDirectory}/tls.key", env["TLS_KEY_FILE"]);
        Assert.Equal($"{caDirectory}/{Scalar(tlsValues, "clientCaKey")}", env["TLS_CLIENT_CA_FILE"]);
        Assert.Equal(Scalar(values, "metricsPort"), env["METRICS_PORT"]);
        Assert.False(env.ContainsKey("H2C_PORT"));
    }

    [Fact]
    public void Chart_mtls_with_the_ca_in_the_tls_secret_mounts_that_secret_once()
    {
        var documents = LoadDocuments(RunHelmTemplate(RequireHelm(),
        [
            "--set", $"targetHost={ExampleTargetHost}", "--set", "tls.secretName=fastproxy-tls",
            "--set", "tls.clientCaSecretName=fastproxy-tls", "--set", "metricsPort=9090",
        ]));
        var container = Assert.Single(Containers(documents));
        var env = EnvironmentValues(container);

        var tlsDirectory = SecretMountPath(documents, container, "fastproxy-tls");

        Assert.Equal($"{tlsDirectory}/ca.crt", env["TLS_CLIENT_CA_FILE"]);
        Assert.Equal($"{tlsDirectory}/tls.crt", env["TLS_CERT_FILE"]);
        Assert.Single(Sequence(container, "volumeMounts"));
    }

    public static TheoryData<string, string[]> RefusedValues() => new()
    {
        { "FastProxy refuses H2C_PORT with TLS", ["--set", "tls.secretName=fastproxy-tls", "--set", "h2cPort=8083"] },
        { "needs metricsPort", ["--set", "tls.secretName=fastproxy-tls", "--set", "tls.clientCaSecretName=fastproxy-tls"] },
        { "needs tls.secretName", ["--set", "tls.clientCaSecretName=fastproxy-ca", "--set", "metricsPort=9090"] },
        { "metricsPort must differ", ["--set", "metricsPort=8081"] },
        { "routes replaces targetHost, ingestionUrl and audience", ["--set", "routes[0].name=all", "--set", "routes[0].pathPrefix=/", "--set", $"routes[0].target={ExampleTargetHost}"] },
    };

    [Fact]
    public void Chart_routes_become_a_routes_file_FastProxy_accepts()
    {
        var documents = LoadDocuments(RenderChartCase("routes-values.yaml"));
        var configMap = Assert.Single(Objects(documents, "ConfigMap"));
        var content = Scalar(Child<YamlMappingNode>(configMap, "data"), "routes.yaml")!;
        var env = EnvironmentValues(Assert.Single(Containers(documents)));
        Assert.Equal("routes.yaml", Path.GetFileName(env["ROUTES_FILE"]));
        Assert.DoesNotContain("TARGET_HOST", env.Keys);

        // The file as the pod sees it, read by FastProxy's own configuration loader.
        var directory = Directory.CreateTempSubdirectory("fastproxy-chart-routes-").FullName;
        try
        {
            var path = Path.Combine(directory, "routes.yaml");
            File.WriteAllText(path, content);
            var loaded = new ConfigurationLoader(new Dictionary<Setting, string?>(),
                name => name == "ROUTES_FILE" ? path : env.GetValueOrDefault(name)).Load();

            Assert.True(loaded.IsValid, string.Join("\n", loaded.Errors));
            Assert.Equal(["write", "query"], loaded.Options!.Routes.Select(r => r.Name));
            Assert.Equal("/api/v1/write", loaded.Options.Routes[0].ExactPath);
            Assert.Equal(Audience.QueryScope, loaded.Options.Routes[1].Scope);
            Assert.Equal("abcd1234-1243-abcd-9876-1234abcd5678", loaded.Options.Routes[1].Identity!.ClientId);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Theory]
    [MemberData(nameof(RefusedValues))]
    public void Chart_refuses_values_the_binary_would_refuse(string expectedMessage, string[] values)
    {
        var (exitCode, _, stderr) = RunHelm(RequireHelm(), ["--set", $"targetHost={ExampleTargetHost}", .. values]);

        Assert.NotEqual(0, exitCode);
        Assert.Contains(expectedMessage, stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Sidecar_remote_write_goes_to_the_sidecars_listening_port_on_loopback()
    {
        var remoteWriteUrls = 0;
        foreach (var path in Directory.GetFiles(ManifestsDirectory, "*.yaml"))
        {
            var documents = LoadDocuments(File.ReadAllText(path));
            var loopbackPorts = Containers(documents)
                .Select(EnvironmentValues)
                .Where(env => IsLoopback(env.GetValueOrDefault("LISTEN_ADDRESS")))
                .Select(ListeningPort)
                .ToHashSet();
            foreach (var url in documents.SelectMany(Mappings).SelectMany(m => Sequence(m, "remoteWrite")).OfType<YamlMappingNode>()
                         .Select(rw => Scalar(rw, "url")).OfType<string>())
            {
                var uri = new Uri(url);
                if (!uri.IsLoopback)
                {
                    continue;
                }

                remoteWriteUrls++;
                if (!loopbackPorts.Contains(uri.Port))
                {
                    Assert.Fail($"{Path.GetFileName(path)}: remoteWrite {url} goes to port {uri.Port}, but the loopback FastProxy container listens on {string.Join(", ", loopbackPorts)}");
                }

                Assert.Equal("/api/v1/write", uri.AbsolutePath);
            }
        }

        if (remoteWriteUrls == 0)
        {
            Assert.Fail("deploy/manifests should hold the kube-prometheus-stack sidecar values with a loopback remoteWrite URL");
        }
    }

    [Fact]
    public void Chart_values_keep_aad_auth_proxy_names()
    {
        var root = Assert.IsType<YamlMappingNode>(LoadDocuments(File.ReadAllText(Path.Combine(ChartDirectory, "values.yaml"))).Single());
        var keys = root.Children.Keys.OfType<YamlScalarNode>().Select(k => k.Value).ToHashSet(StringComparer.Ordinal);

        var missing = AadAuthProxyValues.Where(name => !keys.Contains(name)).ToList();

        Assert.Empty(missing);
    }

    [Fact]
    public void Chart_passes_aad_auth_proxy_values_to_their_environment_variables()
    {
        var expected = new Dictionary<string, (string Value, string EnvironmentVariable, string Rendered)>(StringComparer.Ordinal)
        {
            ["targetHost"] = ("https://target.example.com/prefix", "TARGET_HOST", "https://target.example.com/prefix"),
            ["identityType"] = ("AADApplication", "IDENTITY_TYPE", "aadapplication"),
            ["aadClientId"] = ("client-1", "AAD_CLIENT_ID", "client-1"),
            ["aadTenantId"] = ("tenant-1", "AAD_TENANT_ID", "tenant-1"),
            ["aadClientCertificatePath"] = ("/certs/client.pem", "AAD_CLIENT_CERTIFICATE_PATH", "/certs/client.pem"),
            ["aadTokenRefreshIntervalInPercentage"] = ("15", "AAD_TOKEN_REFRESH_INTERVAL_IN_PERCENTAGE", "15"),
            ["audience"] = ("https://prometheus.monitor.azure.com/.default", "AUDIENCE", "https://prometheus.monitor.azure.com/.default"),
            ["listeningPort"] = ("9091", "LISTENING_PORT", "9091"),
            ["otelServiceName"] = ("svc-1", "OTEL_SERVICE_NAME", "svc-1"),
            ["otelGrpcEndpoint"] = ("http://otel.example:4317", "OTEL_GRPC_ENDPOINT", "http://otel.example:4317"),
        };
        Assert.Equal(AadAuthProxyValues.Order(StringComparer.Ordinal), expected.Keys.Order(StringComparer.Ordinal));
        var arguments = new List<string>();
        foreach (var (name, (value, _, _)) in expected)
        {
            arguments.Add("--set-string");
            arguments.Add($"{name}={value}");
        }

        var documents = LoadDocuments(RunHelmTemplate(RequireHelm(), arguments));

        var container = Assert.Single(Containers(documents));
        var env = EnvironmentValues(container);
        foreach (var (name, (_, variable, rendered)) in expected)
        {
            if (!Settings.IsKnownEnvironmentVariable(variable))
            {
                Assert.Fail($"{variable} (from {name}) is not a FastProxy setting");
            }

            if (!env.TryGetValue(variable, out var actual))
            {
                Assert.Fail($"{name} did not set {variable}");
            }

            Assert.Equal(rendered, actual);
        }

        AssertProbesMatchServingPort(documents, "helm template (aad-auth-proxy values)");
    }

    // ----------------------------------------------------------------------------------------
    // Assertions
    // ----------------------------------------------------------------------------------------

    private static void AssertOnlyKnownEnvironmentVariables(IReadOnlyList<YamlNode> documents, string source)
    {
        var containers = Containers(documents);
        Assert.NotEmpty(containers);
        var names = containers.SelectMany(EnvironmentNames).Distinct(StringComparer.Ordinal).ToList();
        Assert.NotEmpty(names);

        var unknown = string.Join(", ", names.Where(name => !Settings.IsKnownEnvironmentVariable(name)));

        if (unknown.Length > 0)
        {
            Assert.Fail($"{source} sets environment variables FastProxy does not know: {unknown}");
        }
    }

    private static void AssertProbesMatchServingPort(IReadOnlyList<YamlNode> documents, string source)
    {
        var containers = Containers(documents);
        Assert.NotEmpty(containers);
        foreach (var container in containers)
        {
            var name = Scalar(container, "name") ?? "?";
            var env = EnvironmentValues(container);
            var listeningPort = ListeningPort(env);
            var liveness = Child(container, "livenessProbe") as YamlMappingNode;
            var readiness = Child(container, "readinessProbe") as YamlMappingNode;
            if (liveness is null && readiness is null)
            {
                // Only a loopback sidecar may go unprobed: kubelet probes connect to the pod IP.
                if (!IsLoopback(env.GetValueOrDefault("LISTEN_ADDRESS")))
                {
                    Assert.Fail($"{source}: container {name} has no probes; only a sidecar listening on loopback may go without");
                }

                continue;
            }

            var ports = ContainerPorts(container);
            if (!ports.ContainsValue(listeningPort))
            {
                Assert.Fail($"{source}: container {name} listens on {listeningPort} (LISTENING_PORT) but declares ports {string.Join(", ", ports.Values)}");
            }

            // METRICS_PORT moves /health and /ready to a plain-HTTP port; without it they are served
            // by the listener, over HTTPS when it has TLS. With client certificates the kubelet
            // (no certificate) can only probe the metrics port.
            var (probePort, scheme) = env.TryGetValue("METRICS_PORT", out var metricsPort)
                ? (int.Parse(metricsPort, NumberStyles.None, CultureInfo.InvariantCulture), "HTTP")
                : (listeningPort, env.ContainsKey("TLS_CERT_FILE") ? "HTTPS" : "HTTP");
            if (env.ContainsKey("TLS_CLIENT_CA_FILE") && metricsPort is null)
            {
                Assert.Fail($"{source}: container {name} requires client certificates (TLS_CLIENT_CA_FILE) but has no METRICS_PORT for the kubelet's probes");
            }

            AssertProbe(liveness, "livenessProbe", "/health", ports, probePort, scheme, $"{source}: container {name}");
            AssertProbe(readiness, "readinessProbe", "/ready", ports, probePort, scheme, $"{source}: container {name}");
        }
    }

    private static void AssertProbe(YamlMappingNode? probe, string kind, string path, Dictionary<string, int> ports, int expectedPort, string expectedScheme, string source)
    {
        if (probe is null)
        {
            Assert.Fail($"{source}: no {kind}");
        }

        if (Child(probe, "httpGet") is not YamlMappingNode httpGet)
        {
            Assert.Fail($"{source}: {kind} is not an httpGet probe");
            return;
        }

        var actualPath = Scalar(httpGet, "path");
        if (!string.Equals(actualPath, path, StringComparison.Ordinal))
        {
            Assert.Fail($"{source}: {kind} path is {actualPath}, expected {path}");
        }

        var port = Scalar(httpGet, "port");
        if (port is null)
        {
            Assert.Fail($"{source}: {kind} has no port");
        }

        if (!int.TryParse(port, NumberStyles.None, CultureInfo.InvariantCulture, out var number) && !ports.TryGetValue(port, out number))
        {
            Assert.Fail($"{source}: {kind} port {port} names no container port");
        }

        if (number != expectedPort)
        {
            Assert.Fail($"{source}: {kind} probes port {port} ({number}), but /health and /ready are served on {expectedPort} (METRICS_PORT when set, else LISTENING_PORT)");
        }

        var scheme = Scalar(httpGet, "scheme") ?? "HTTP";
        if (!string.Equals(scheme, expectedScheme, StringComparison.Ordinal))
        {
            Assert.Fail($"{source}: {kind} uses scheme {scheme}, but port {expectedPort} speaks {expectedScheme}");
        }
    }

    // ----------------------------------------------------------------------------------------
    // YAML
    // ----------------------------------------------------------------------------------------

    private static List<YamlNode> LoadDocuments(string text)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(text));
        return stream.Documents.Select(d => d.RootNode).ToList();
    }

    private static IEnumerable<YamlMappingNode> Mappings(YamlNode node)
    {
        switch (node)
        {
            case YamlMappingNode mapping:
                yield return mapping;
                foreach (var child in mapping.Children.Values)
                {
                    foreach (var nested in Mappings(child))
                    {
                        yield return nested;
                    }
                }

                break;
            case YamlSequenceNode sequence:
                foreach (var item in sequence.Children)
                {
                    foreach (var nested in Mappings(item))
                    {
                        yield return nested;
                    }
                }

                break;
        }
    }

    /// <summary>Every item of every "containers" and "initContainers" list, wherever it is.</summary>
    private static List<YamlMappingNode> Containers(IEnumerable<YamlNode> documents) =>
        documents.SelectMany(Mappings)
            .SelectMany(m => Sequence(m, "containers").Concat(Sequence(m, "initContainers")))
            .OfType<YamlMappingNode>()
            .ToList();

    private static IEnumerable<string> EnvironmentNames(YamlMappingNode container) =>
        Sequence(container, "env").OfType<YamlMappingNode>().Select(e => Scalar(e, "name")).OfType<string>();

    private static Dictionary<string, string> EnvironmentValues(YamlMappingNode container)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var entry in Sequence(container, "env").OfType<YamlMappingNode>())
        {
            if (Scalar(entry, "name") is { } name && Scalar(entry, "value") is { } value)
            {
                values[name] = value;
            }
        }

        return values;
    }

    private static Dictionary<string, int> ContainerPorts(YamlMappingNode container)
    {
        var ports = new Dictionary<string, int>(StringComparer.Ordinal);
        var unnamed = 0;
        foreach (var port in Sequence(container, "ports").OfType<YamlMappingNode>())
        {
            if (int.TryParse(Scalar(port, "containerPort"), NumberStyles.None, CultureInfo.InvariantCulture, out var number))
            {
                ports[Scalar(port, "name") ?? $"#unnamed{unnamed++}"] = number;
            }
        }

        return ports;
    }

    private static int ListeningPort(Dictionary<string, string> env) =>
        env.TryGetValue("LISTENING_PORT", out var value)
            ? int.Parse(value, NumberStyles.None, CultureInfo.InvariantCulture)
            : DefaultListeningPort;

    private static bool IsLoopback(string? address) =>
        address is not null && (address.StartsWith("127.", StringComparison.Ordinal) || address is "::1" or "[::1]" or "localhost");

    private static List<YamlMappingNode> Objects(IEnumerable<YamlNode> documents, string kind) =>
        documents.OfType<YamlMappingNode>().Where(d => Scalar(d, "kind") == kind).ToList();

    /// <summary>Where the container mounts the Secret volume of that name (whole, not a subPath).</summary>
    private static string SecretMountPath(IEnumerable<YamlNode> documents, YamlMappingNode container, string secretName)
    {
        var volumes = Objects(documents, "Deployment").SelectMany(d => Sequence(Child<YamlMappingNode>(Child<YamlMappingNode>(Child<YamlMappingNode>(d, "spec"), "template"), "spec"), "volumes"))
            .OfType<YamlMappingNode>()
            .Where(v => Child(v, "secret") is YamlMappingNode secret && Scalar(secret, "secretName") == secretName)
            .Select(v => Scalar(v, "name"))
            .ToList();
        var volume = Assert.Single(volumes);
        var mount = Assert.Single(Sequence(container, "volumeMounts").OfType<YamlMappingNode>(), m => Scalar(m, "name") == volume);
        Assert.Null(Scalar(mount, "subPath"));
        return Scalar(mount, "mountPath")!.TrimEnd('/');
    }

    private static T Child<T>(YamlMappingNode mapping, string key)
        where T : YamlNode => Assert.IsType<T>(Child(mapping, key));

    private static YamlNode? Child(YamlMappingNode mapping, string key) =>
        mapping.Children.TryGetValue(new YamlScalarNode(key), out var node) ? node : null;

    private static string? Scalar(YamlMappingNode mapping, string key) => (Child(mapping, key) as YamlScalarNode)?.Value;

    private static IEnumerable<YamlNode> Sequence(YamlMappingNode mapping, string key) =>
        Child(mapping, key) is YamlSequenceNode sequence ? sequence.Children : [];

    // ----------------------------------------------------------------------------------------
    // helm
    // ----------------------------------------------------------------------------------------

    private static string RenderChartCase(string chartCase)
    {
        var helm = RequireHelm();
        return RenderedCases.GetOrAdd(chartCase, c => new Lazy<string>(() => RunHelmTemplate(helm,
            c == DefaultCase ? new[] { "--set", $"targetHost={ExampleTargetHost}" } : new[] { "-f", Path.Combine(ChartDirectory, "ci", c) }))).Value;
    }

    private static string RunHelmTemplate(string helm, IEnumerable<string> valueArguments)
    {
        var (exitCode, stdout, stderr) = RunHelm(helm, valueArguments);
        if (exitCode != 0)
        {
            Assert.Fail($"helm template {string.Join(' ', valueArguments)} failed ({exitCode}):\n{stderr}");
        }

        return stdout;
    }

    private static (int ExitCode, string Stdout, string Stderr) RunHelm(string helm, IEnumerable<string> valueArguments)
    {
        var start = new ProcessStartInfo(helm)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add("template");
        start.ArgumentList.Add("fastproxy");
        start.ArgumentList.Add(ChartDirectory);
        start.ArgumentList.Add("--namespace");
        start.ArgumentList.Add("fastproxy-test");
        foreach (var argument in valueArguments)
        {
            start.ArgumentList.Add(argument);
        }

        // Keep helm's configuration and cache out of the user's home.
        var helmHome = Path.Combine(Path.GetTempPath(), "fastproxy-tests-helm-home");
        start.Environment["HELM_CONFIG_HOME"] = Path.Combine(helmHome, "config");
        start.Environment["HELM_CACHE_HOME"] = Path.Combine(helmHome, "cache");
        start.Environment["HELM_DATA_HOME"] = Path.Combine(helmHome, "data");

        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        using var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                stdout.Append(e.Data).Append('\n');
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                stderr.Append(e.Data).Append('\n');
            }
        };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (!process.WaitForExit(TimeSpan.FromSeconds(60)))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"helm template {string.Join(' ', start.ArgumentList)} did not finish within 60 s");
        }

        process.WaitForExit(); // drains the output handlers
        return (process.ExitCode, stdout.ToString(), stderr.ToString());
    }

    private static string RequireHelm()
    {
        if (FindHelm() is { } helm)
        {
            return helm;
        }

        const string Reason = "helm is not installed; `bash deploy/check.sh` caches it in ~/.cache/fastproxy-tools (or set FASTPROXY_HELM)";
        if (Environment.GetEnvironmentVariable("FASTPROXY_REQUIRE_TOOLS") == "1")
        {
            Assert.Fail(Reason + ", and FASTPROXY_REQUIRE_TOOLS=1 requires it");
        }

        Assert.Skip(Reason);
        throw new UnreachableException();
    }

    private static string? FindHelm()
    {
        var explicitPath = Environment.GetEnvironmentVariable("FASTPROXY_HELM");
        if (!string.IsNullOrEmpty(explicitPath) && File.Exists(explicitPath))
        {
            return explicitPath;
        }

        var tools = Environment.GetEnvironmentVariable("FASTPROXY_TOOLS");
        if (string.IsNullOrEmpty(tools))
        {
            var home = Environment.GetEnvironmentVariable("HOME");
            if (string.IsNullOrEmpty(home))
            {
                home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
            }

            tools = Path.Combine(home, ".cache", "fastproxy-tools");
        }

        var cached = Path.Combine(tools, "helm", "helm");
        if (File.Exists(cached))
        {
            return cached;
        }

        foreach (var directory in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(directory, "helm");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }
}
