using FastProxy.Configuration;

namespace FastProxy.Tests.Support;

/// <summary>The configuration loader fed an ingestion target, a system-assigned identity and the given variables.</summary>
internal static class ConfigurationFixture
{
    public static ConfigurationResult LoadIngestion(params (string Name, string Value)[] extra)
    {
        var environment = new Dictionary<string, string>
        {
            ["TARGET_HOST"] = "myws-abcd.eastus-1.metrics.ingest.monitor.azure.com",
            ["IDENTITY_TYPE"] = "systemassigned",
        };
        foreach (var (name, value) in extra)
        {
            environment[name] = value;
        }

        return new ConfigurationLoader(new Dictionary<Setting, string?>(), name => environment.GetValueOrDefault(name)).Load();
    }
}
