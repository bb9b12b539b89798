using System.CommandLine;
using FastProxy.Configuration;
using FastProxy.Listener;

namespace FastProxy.Cli;

/// <summary>
/// The command line: running the proxy is the root command (so the image's entrypoint needs no
/// arguments, as aad-auth-proxy's), <c>demo</c> runs the loopback demonstration, <c>decode</c>
/// reads remote-write bodies. Every flag comes from <see cref="Settings"/> and overrides the
/// environment variable of the same meaning.
/// </summary>
internal static class CommandLine
{
    public const int ConfigurationErrorExitCode = 2;

    public static async Task<int> RunAsync(string[] args)
    {
        var root = new RootCommand(
            "FastProxy: an authenticating reverse proxy that lets Prometheus remote-write to and query " +
            "Azure Monitor managed Prometheus with a Microsoft Entra identity. Every option can also be " +
            "set by the environment variable named in brackets; options win.");
        var options = new Dictionary<Setting, Option<string?>>();
        foreach (var setting in Settings.All)
        {
            var option = new Option<string?>(setting.OptionName)
            {
                Description = $"{setting.Description} [{string.Join(", ", setting.EnvironmentVariables)}]",
                HelpName = "value",
            };
            options[setting] = option;
            root.Options.Add(option);
        }

        // The one repeatable flag: a route each (README, "Routes file"); no environment variable.
        var routes = new Option<string[]>(RouteFlags.OptionName)
        {
            Description = "One route of several, as a routes file's fields: name=…,pathPrefix=… (or path=…),target=…[,audience=…]" +
                          "[,identity.type=…,identity.clientId=…]. Repeat for each route. Replaces TARGET_HOST/INGESTION_URL/AUDIENCE and ROUTES_FILE.",
            HelpName = "fields",
            Arity = ArgumentArity.ZeroOrMore,
            AllowMultipleArgumentsPerToken = false,
        };
        root.Options.Add(routes);

        root.SetAction((parse, cancellationToken) =>
            RunProxyAsync(options.ToDictionary(o => o.Key, o => parse.GetValue(o.Value)), parse.GetValue(routes) ?? [], cancellationToken));
        root.Subcommands.Add(DemoCommand.Create());
        root.Subcommands.Add(DecodeCommand.Create());

        var parseResult = root.Parse(args);
        if (parseResult.Errors.Count > 0)
        {
            foreach (var error in parseResult.Errors)
            {
                await Console.Error.WriteLineAsync($"fastproxy: {error.Message}");
            }

            await Console.Error.WriteLineAsync("Run 'fastproxy --help' for the options.");
            return ConfigurationErrorExitCode;
        }

        // The host handles SIGTERM itself and drains in-flight requests; System.CommandLine's own
        // handler would end the process after its short timeout, cutting the drain.
        return await parseResult.InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null });
    }

    private static async Task<int> RunProxyAsync(Dictionary<Setting, string?> flags, string[] routes, CancellationToken cancellationToken)
    {
        var result = ConfigurationLoader.FromEnvironment(flags, routes);
        if (!result.IsValid)
        {
            await ReportConfigurationErrorsAsync(result.Errors);
            return ConfigurationErrorExitCode;
        }

        KestrelTuning.ApplyToProcess(result.Options!.InlineIoCompletions, result.Options.IoThreads);
        try
        {
            await using var server = ProxyServer.Create(result.Options!);
            await server.RunAsync(cancellationToken);
            return 0;
        }
        catch (IOException ex) when (ex.Message.Contains("bind", StringComparison.OrdinalIgnoreCase))
        {
            await Console.Error.WriteLineAsync($"fastproxy: cannot listen: {ex.Message} Choose another LISTENING_PORT or stop what holds it.");
            return 1;
        }
    }

    public static async Task ReportConfigurationErrorsAsync(IReadOnlyList<string> errors)
    {
        await Console.Error.WriteLineAsync($"fastproxy: {errors.Count} configuration problem{(errors.Count == 1 ? "" : "s")}:");
        foreach (var error in errors)
        {
            await Console.Error.WriteLineAsync($"  {error}");
        }

        await Console.Error.WriteLineAsync("Run 'fastproxy --help' for every setting.");
    }
}
