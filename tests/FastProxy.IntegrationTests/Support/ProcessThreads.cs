namespace FastProxy.IntegrationTests.Support;

/// <summary>
/// A process's threads by name, from /proc. The .NET runtime names its own: ".NET Sockets" (socket
/// event threads), ".NET Server GC" (server GC), ".NET BGC" (background GC).
/// </summary>
internal static class ProcessThreads
{
    public static int Named(int processId, string name) =>
        Directory.GetDirectories($"/proc/{processId}/task").Count(task => NameOf(task) == name);

    private static string? NameOf(string task)
    {
        try
        {
            return File.ReadAllText(Path.Combine(task, "comm")).Trim();
        }
        catch (IOException)
        {
            // The thread ended between the listing and the read.
            return null;
        }
    }
}
