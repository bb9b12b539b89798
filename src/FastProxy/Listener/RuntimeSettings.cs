using System.Globalization;
using System.Runtime;

namespace FastProxy.Listener;

/// <summary>
/// What the process runs on: native AOT or JIT, and the garbage collector's settings in force, for
/// the start-up log. FastProxy.csproj compiles the GC settings into the native binary, where a
/// misspelt setting is silently ignored and a <c>DOTNET_</c> variable overrides them; the line
/// shows what the process really runs.
/// </summary>
internal static class RuntimeSettings
{
    /// <summary>
    /// True in the native binary. <c>RuntimeFeature.IsDynamicCodeSupported</c> cannot tell: a
    /// project that publishes with native AOT turns it off for its JIT runs too, so that they
    /// behave alike. The JIT host always hands the runtime its trusted platform assemblies; a
    /// native binary has none.
    /// </summary>
    public static bool IsNativeAot { get; } = AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES") is null;

    public static string Describe()
    {
        var settings = GC.GetConfigurationVariables();
        var text = IsNativeAot ? "runtime: native AOT, " : "runtime: JIT, ";
        text += GCSettings.IsServerGC ? "server GC" : "workstation GC";
        if (Number(settings, "GCDynamicAdaptationMode") == 1)
        {
            text += " with dynamic adaptation (DATAS)";
        }

        text += settings.TryGetValue("ConcurrentGC", out var concurrent) && concurrent is true ? ", background GC" : ", no background GC";
        if (Number(settings, "GCGen0MaxBudget") is { } budget and > 0)
        {
            text += $", gen0 budget at most {budget / (1024.0 * 1024):0.#} MB";
        }

        return text;
    }

    private static long? Number(IReadOnlyDictionary<string, object> settings, string name) =>
        settings.TryGetValue(name, out var value) && value is IConvertible number
            ? number.ToInt64(CultureInfo.InvariantCulture)
            : null;
}
