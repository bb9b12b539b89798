using Microsoft.Extensions.Logging;

namespace FastProxy.Identity;

/// <summary>A credential that reports changes of its files (certificate loaded, secret changed) to the identity log.</summary>
internal interface IMaterialLogging
{
    ILogger? Logger { get; set; }
}
