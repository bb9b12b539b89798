namespace FastProxy.Tests.Support;

/// <summary>The workspace endpoints and client id the routes tests configure (the README's examples).</summary>
internal static class ExampleEndpoints
{
    public const string ClientId = "abcd1234-1243-abcd-9876-1234abcd5678";
    public const string Ingest = "https://myws-abcd.eastus-1.metrics.ingest.monitor.azure.com";
    public const string Query = "https://myws.eastus.prometheus.monitor.azure.com";
}
