using System.Diagnostics;
using System.Net;
using FastProxy.Configuration;

namespace FastProxy.IntegrationTests.Support;

/// <summary>
/// FastProxy as a child process (<c>dotnet fastproxy.dll</c> from the test's output folder) with an
/// environment of its own, which is how Azure.Identity finds the identity endpoints
/// (AZURE_POD_IDENTITY_AUTHORITY_HOST, IDENTITY_ENDPOINT + IDENTITY_HEADER). Stdout and stderr are
/// captured line by line; disposal kills the process tree if it is still running.
/// </summary>
internal sealed class ProxyProcess : IAsyncDisposable
{
    // Variables that would steer Azure.Identity or FastProxy away from what a test configures.
    private static readonly string[] Inherited =
    [
        "IDENTITY_ENDPOINT", "IDENTITY_HEADER", "IDENTITY_SERVER_THUMBPRINT", "IMDS_ENDPOINT", "MSI_ENDPOINT", "MSI_SECRET",
        "AZURE_POD_IDENTITY_AUTHORITY_HOST", "AZURE_AUTHORITY_HOST", "AZURE_FEDERATED_TOKEN_FILE", "AZURE_CLIENT_ID",
        "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_REGIONAL_AUTHORITY_NAME",
        "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "all_proxy", "no_proxy",
        "ASPNETCORE_URLS", "DOTNET_URLS", "ASPNETCORE_HTTP_PORTS", "ASPNETCORE_HTTPS_PORTS", "ASPNETCORE_ENVIRONMENT", "DOTNET_ENVIRONMENT",
    ];

    private readonly Process _process;
    private readonly Lock _gate = new();
    private readonly List<string> _stdout = [];
    private readonly List<string> _stderr = [];
    private readonly ChangeSignal _changed = new();
    private readonly TaskCompletionSource<int> _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _streamsOpen = 2;
    private bool _stdoutHeld;

    private ProxyProcess(Process process, int port)
    {
        _process = process;
        Port = port;
        BaseAddress = new Uri($"http://127.0.0.1:{port}");
    }

    public int Port { get; }

    public Uri BaseAddress { get; }

    public int Id => _process.Id;

    public string Stdout => Join(_stdout);

    public string Stderr => Join(_stderr);

    public IReadOnlyList<string> StderrLines
    {
        get
        {
            lock (_gate)
            {
                return [.. _stderr];
            }
        }
    }

    /// <summary>Completes with the exit code once the process ended and its output was read to the end.</summary>
    public Task<int> Exited => _exited.Task;

    /// <summary>
    /// Environment for a proxy on a free loopback port with JSON logs; <paramref name="settings"/>
    /// adds to it (a null value removes a variable).
    /// </summary>
    /// <param name="holdStdout">
    /// Leave stdout unread until <see cref="ReleaseStdout"/>: its pipe fills and stays full, as a
    /// container runtime's log pipe that is not being drained.
    /// </param>
    /// <param name="nativeBinary">A published native-AOT executable to run instead of fastproxy.dll on the JIT.</param>
    public static ProxyProcess Start(IReadOnlyDictionary<string, string?> settings, int? port = null, IEnumerable<string>? arguments = null,
        bool holdStdout = false, string? nativeBinary = null)
    {
        var listeningPort = port ?? FreePort.Get();
        var dll = Path.Combine(AppContext.BaseDirectory, "fastproxy.dll");
        var start = new ProcessStartInfo(nativeBinary ?? DotnetHost(), nativeBinary is null ? [dll, .. arguments ?? []] : [.. arguments ?? []])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = AppContext.BaseDirectory,
        };

        foreach (var name in Inherited.Concat(Settings.All.SelectMany(s => s.EnvironmentVariables)))
        {
            start.Environment.Remove(name);
        }

        start.Environment["LISTENING_PORT"] = listeningPort.ToString(System.Globalization.CultureInfo.InvariantCulture);
        start.Environment["LISTEN_ADDRESS"] = "127.0.0.1";
        start.Environment["LOG_FORMAT"] = "json";
        start.Environment["DOTNET_NOLOGO"] = "1";
        foreach (var (name, value) in settings)
        {
            if (value is null)
            {
                start.Environment.Remove(name);
            }
            else
            {
                start.Environment[name] = value;
            }
        }

        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        var proxy = new ProxyProcess(process, listeningPort);
        process.OutputDataReceived += (_, e) => proxy.OnLine(proxy._stdout, e.Data);
        process.ErrorDataReceived += (_, e) => proxy.OnLine(proxy._stderr, e.Data);
        process.Start();
        proxy._stdoutHeld = holdStdout;
        if (!holdStdout)
        {
            process.BeginOutputReadLine();
        }

        process.BeginErrorReadLine();
        return proxy;
    }

    /// <summary>Starts reading the stdout held back by <c>holdStdout</c>.</summary>
    public void ReleaseStdout()
    {
        _stdoutHeld = false;
        _process.BeginOutputReadLine();
    }

    private static string DotnetHost() =>
        Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";

    private void OnLine(List<string> lines, string? line)
    {
        if (line is null)
        {
            // End of one stream; once both ended and the process exited, the exit is final.
            if (Interlocked.Decrement(ref _streamsOpen) == 0)
            {
                _ = Task.Run(async () =>
                {
                    try
                    {
                        await _process.WaitForExitAsync();
                        _exited.TrySetResult(_process.ExitCode);
                    }
                    catch (Exception ex) when (ex is InvalidOperationException or ObjectDisposedException)
                    {
                        // Disposed by the test before the exit was observed; nobody waits any more.
                        _exited.TrySetResult(-1);
                    }

                    _changed.Notify();
                });
            }

            return;
        }

        lock (_gate)
        {
            lines.Add(line);
        }

        _changed.Notify();
    }

    private string Join(List<string> lines)
    {
        lock (_gate)
        {
            return string.Join('\n', lines);
        }
    }

    public bool HasExited => _exited.Task.IsCompleted;

    /// <summary>Waits until <paramref name="text"/> appears in stdout or stderr.</summary>
    public async Task WaitForOutputAsync(string text, TimeSpan timeout)
    {
        try
        {
            await _changed.WaitUntilAsync(() => HasExited || OutputContains(text), timeout, $"'{text}' in FastProxy's output");
        }
        catch (TimeoutException ex)
        {
            throw new TimeoutException($"{ex.Message}\n{Describe()}");
        }

        if (!OutputContains(text))
        {
            throw new InvalidOperationException($"FastProxy exited ({_exited.Task.Result}) before writing '{text}'.\n{Describe()}");
        }
    }

    public bool OutputContains(string text) =>
        Stdout.Contains(text, StringComparison.Ordinal) || Stderr.Contains(text, StringComparison.Ordinal);

    /// <summary>Waits until the listener is open (the "Listening on" log line, event id 101).</summary>
    public Task WaitForListeningAsync(TimeSpan? timeout = null) => WaitForOutputAsync("Listening on", timeout ?? TimeSpan.FromSeconds(30));

    /// <summary>Polls /ready (bounded) until it answers 200.</summary>
    public async Task WaitForReadyAsync(HttpClient client, TimeSpan timeout)
    {
        // With stdout held, "Listening on" cannot be seen: a refused connection means "not yet".
        var held = _stdoutHeld;
        if (!held)
        {
            await WaitForListeningAsync();
        }

        var deadline = DateTime.UtcNow + timeout;
        var last = "";
        while (DateTime.UtcNow < deadline && !HasExited)
        {
            try
            {
                using var response = await client.GetAsync(new Uri(BaseAddress, "/ready"));
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    return;
                }

                last = $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}";
            }
            catch (HttpRequestException ex) when (held)
            {
                last = ex.Message;
            }

            // Polling an external process: bounded by the deadline above.
            await Task.Delay(50);
        }

        throw new TimeoutException($"FastProxy was not ready within {timeout.TotalSeconds:0} s; last /ready: {last}\n{Describe()}");
    }

    /// <summary>Sends SIGTERM, as Kubernetes does on pod deletion.</summary>
    public void Terminate()
    {
        using var kill = Process.Start(new ProcessStartInfo("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])
        {
            UseShellExecute = false,
        })!;
        kill.WaitForExit(5000);
        if (kill.ExitCode != 0)
        {
            throw new InvalidOperationException($"kill -TERM {_process.Id} exited {kill.ExitCode}");
        }
    }

    /// <summary>Waits for the exit (bounded) and returns the exit code.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        try
        {
            return await _exited.Task.WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"FastProxy did not exit within {timeout.TotalSeconds:0} s.\n{Describe()}");
        }
    }

    public string Describe() => $"--- stdout ---\n{Stdout}\n--- stderr ---\n{Stderr}";

    public async ValueTask DisposeAsync()
    {
        if (!HasExited)
        {
            try
            {
                _process.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
                // Exited in the meantime.
            }

            try
            {
                await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
            }
            catch (TimeoutException)
            {
                // Nothing more to do; the test already has its result.
            }
        }

        _process.Dispose();
    }
}
