using System.Net;
using System.Net.Sockets;
using FastProxy.IntegrationTests.Support;

namespace FastProxy.IntegrationTests.Cli;

/// <summary>Invalid configuration stops start-up: exit code 2, one line per problem, no stack trace.</summary>
public sealed class ConfigurationErrorTests
{
    private static readonly TimeSpan ExitTimeout = TimeSpan.FromSeconds(30);

    private static void AssertNoStackTrace(ProxyProcess proxy)
    {
        var output = proxy.Stdout + "\n" + proxy.Stderr;
        Assert.DoesNotContain("   at ", output, StringComparison.Ordinal);
        Assert.DoesNotContain("Exception", output, StringComparison.Ordinal);
        Assert.DoesNotContain("Unhandled", output, StringComparison.Ordinal);
    }

    /// <summary>The problem lines: stderr without the header and the closing hint.</summary>
    private static List<string> ProblemLines(ProxyProcess proxy) =>
        proxy.StderrLines.Where(l => l.StartsWith("  ", StringComparison.Ordinal) && l.Trim().Length > 0).ToList();

    [Fact]
    public async Task SeveralBadVariables_ExitWithCode2AndOneLinePerProblem()
    {
        const string HeaderSecret = "do-not-echo-this-value";
        await using var proxy = ProxyProcess.Start(new Dictionary<string, string?>
        {
            ["TARGET_HOST"] = null,
            ["IDENTITY_TYPE"] = "no-such-identity",
            ["LISTENING_PORT"] = "eighty",
            ["AAD_TOKEN_REFRESH_INTERVAL_IN_PERCENTAGE"] = "0",
            ["OVERRIDE_REQUEST_HEADERS"] = $"{{\"X-Key\":\"{HeaderSecret}\\r\\nInjected: 1\"}}",
        });

        var exitCode = await proxy.WaitForExitAsync(ExitTimeout);

        Assert.True(exitCode == 2, $"exit code {exitCode}\n{proxy.Describe()}");
        var problems = ProblemLines(proxy);
        string[] named = ["TARGET_HOST", "IDENTITY_TYPE", "LISTENING_PORT", "AAD_TOKEN_REFRESH_INTERVAL_IN_PERCENTAGE", "OVERRIDE_REQUEST_HEADERS"];
        Assert.True(problems.Count == named.Length, $"expected {named.Length} problem lines\n{proxy.Stderr}");
        foreach (var variable in named)
        {
            Assert.Single(problems, line => line.Contains(variable, StringComparison.Ordinal));
        }

        Assert.Contains(proxy.StderrLines, l => l.Contains($"{named.Length} configuration problems", StringComparison.Ordinal));
        Assert.DoesNotContain(HeaderSecret, proxy.Stderr + proxy.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("Listening on", proxy.Stdout, StringComparison.Ordinal);
        AssertNoStackTrace(proxy);
    }

    [Fact]
    public async Task InvalidFlag_OverridesValidVariableAndIsNamedInTheError()
    {
        await using var proxy = ProxyProcess.Start(new Dictionary<string, string?>
        {
            ["TARGET_HOST"] = "http://127.0.0.1:9",
            ["IDENTITY_TYPE"] = "systemassigned",
        }, arguments: ["--upstream-timeout-seconds", "-5"]);

        var exitCode = await proxy.WaitForExitAsync(ExitTimeout);

        Assert.True(exitCode == 2, $"exit code {exitCode}\n{proxy.Describe()}");
        var problem = Assert.Single(ProblemLines(proxy));
        Assert.Contains("--upstream-timeout-seconds", problem, StringComparison.Ordinal);
        AssertNoStackTrace(proxy);
    }

    [Fact]
    public async Task RouteFlag_IsRepeatable_AndEachIsNamedInItsError()
    {
        await using var proxy = ProxyProcess.Start(new Dictionary<string, string?>
        {
            ["TARGET_HOST"] = null,
            ["IDENTITY_TYPE"] = "systemassigned",
        }, arguments: ["--route", "name=a,pathPrefix=/,target=https://h", "--route", "name=b,pathPrefix=/x,target=ftp://h"]);

        var exitCode = await proxy.WaitForExitAsync(ExitTimeout);

        Assert.True(exitCode == 2, $"exit code {exitCode}\n{proxy.Describe()}");
        var problem = Assert.Single(ProblemLines(proxy));
        Assert.Contains("--route #2 (\"b\"): target scheme 'ftp' is not supported", problem, StringComparison.Ordinal);
        AssertNoStackTrace(proxy);
    }

    [Fact]
    public async Task UnknownFlag_ExitsWithCode2WithoutStackTrace()
    {
        await using var proxy = ProxyProcess.Start(new Dictionary<string, string?>
        {
            ["TARGET_HOST"] = "http://127.0.0.1:9",
            ["IDENTITY_TYPE"] = "systemassigned",
        }, arguments: ["--no-such-flag", "1"]);

        var exitCode = await proxy.WaitForExitAsync(ExitTimeout);

        Assert.True(exitCode == 2, $"exit code {exitCode}\n{proxy.Describe()}");
        Assert.Contains("--no-such-flag", proxy.Stderr, StringComparison.Ordinal);
        AssertNoStackTrace(proxy);
    }

    [Fact]
    public async Task PortInUse_ExitsWithCode1AndOneClearLine_NoStackTraceInTheLog()
    {
        using var holder = new TcpListener(IPAddress.Loopback, 0);
        holder.Start();
        var port = ((IPEndPoint)holder.LocalEndpoint).Port;
        await using var proxy = ProxyProcess.Start(new Dictionary<string, string?>
        {
            ["TARGET_HOST"] = "http://127.0.0.1:9",
            ["IDENTITY_TYPE"] = "systemassigned",
        }, port: port);

        var exitCode = await proxy.WaitForExitAsync(ExitTimeout);

        Assert.True(exitCode == 1, $"exit code {exitCode}\n{proxy.Describe()}");
        var line = Assert.Single(proxy.StderrLines, l => l.Contains("cannot listen", StringComparison.Ordinal));
        Assert.Contains($"127.0.0.1:{port}", line, StringComparison.Ordinal);
        Assert.Contains("Choose another LISTENING_PORT", line, StringComparison.Ordinal);
        AssertNoStackTrace(proxy);
    }

    [Fact]
    public async Task InvalidJson_IsDescribedInWords_InTheShippedConfiguration()
    {
        // The child runs with the shipped runtimeconfig (UseSystemResourceKeys): the JSON parser's
        // messages are resource keys there, which must not reach the operator as they are.
        var routesFile = Path.Combine(Path.GetTempPath(), $"fastproxy-routes-{Guid.NewGuid():N}.json");
        await File.WriteAllTextAsync(routesFile, "{\"routes\": [ {\"target\" \"http://127.0.0.1:9\"} ]}", TestContext.Current.CancellationToken);
        try
        {
            await using var proxy = ProxyProcess.Start(new Dictionary<string, string?>
            {
                ["TARGET_HOST"] = null,
                ["ROUTES_FILE"] = routesFile,
                ["IDENTITY_TYPE"] = "systemassigned",
                ["OVERRIDE_REQUEST_HEADERS"] = "{\"x-a\" \"b\"}",
            });

            var exitCode = await proxy.WaitForExitAsync(ExitTimeout);

            Assert.True(exitCode == 2, $"exit code {exitCode}\n{proxy.Describe()}");
            var problems = ProblemLines(proxy);
            Assert.Equal(2, problems.Count);
            var routes = Assert.Single(problems, l => l.Contains("ROUTES_FILE", StringComparison.Ordinal));
            var headers = Assert.Single(problems, l => l.Contains("OVERRIDE_REQUEST_HEADERS", StringComparison.Ordinal));
            Assert.Contains("is not valid JSON at line 1, position", routes, StringComparison.Ordinal);
            Assert.True(headers.Contains("is not valid JSON at line 1, position 8: expected separator after property name not found", StringComparison.Ordinal), headers);
            Assert.Contains("use an object such as", headers, StringComparison.Ordinal);
            Assert.DoesNotContain(problems, l => System.Text.RegularExpressions.Regex.IsMatch(l, @"\b[A-Z][a-z]+(?:[A-Z][a-z]+){2,}\b"));
            AssertNoStackTrace(proxy);
        }
        finally
        {
            File.Delete(routesFile);
        }
    }
}
