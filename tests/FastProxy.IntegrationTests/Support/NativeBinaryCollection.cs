namespace FastProxy.IntegrationTests.Support;

/// <summary>
/// The tests that run the native binary, one class after the other. The start-up memory test
/// measures pages released with MADV_PAGEOUT, which the kernel skips while another process maps
/// them: a second FastProxy started from the same file at the same moment (an identity-flow test)
/// would keep the executable's pages resident and fail it for a reason that is not its own.
/// </summary>
[CollectionDefinition(Name)]
public sealed class NativeBinaryCollection
{
    public const string Name = "native binary processes";
}
