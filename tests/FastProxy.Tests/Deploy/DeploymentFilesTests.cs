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
/// the configuration parser knows, and the probes must be GET /health and GET /ready on the
/// listening port.
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
    public void Manifest_probes_are_health_and_ready_on_the_listening_port(string file)
    {
        var documents = LoadDocuments(File.ReadAllText(Path.Combine(ManifestsDirectory, file)));

        AssertProbesMatchListeningPort(documents, $"deploy/manifests/{file}");
    }

    [Theory]
    [MemberData(nameof(ChartCases))]
    public void Chart_probes_are_health_and_ready_on_the_listening_port(string chartCase)
    {
        var documents = LoadDocuments(RenderChartCase(chartCase));

        AssertProbesMatchListeningPort(documents, $"helm template ({chartCase})");
        var deployments = documents.OfType<YamlMappingNode>().Where(d => Scalar(d, "kind") == "Deployment").ToList();
        Assert.Single(deployments);
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

        AssertProbesMatchListeningPort(documents, "helm template (aad-auth-proxy values)");
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

    private static void AssertProbesMatchListeningPort(IReadOnlyList<YamlNode> documents, string source)
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

            AssertProbe(liveness, "livenessProbe", "/health", ports, listeningPort, $"{source}: container {name}");
            AssertProbe(readiness, "readinessProbe", "/ready", ports, listeningPort, $"{source}: container {name}");
        }
    }

    private static void AssertProbe(YamlMappingNode? probe, string kind, string path, Dictionary<string, int> ports, int listeningPort, string source)
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

        if (number != listeningPort)
        {
            Assert.Fail($"{source}: {kind} probes port {port} ({number}), but LISTENING_PORT is {listeningPort}");
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
        if (process.ExitCode != 0)
        {
            Assert.Fail($"helm template {string.Join(' ', start.ArgumentList)} failed ({process.ExitCode}):\n{stderr}");
        }

        return stdout.ToString();
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
