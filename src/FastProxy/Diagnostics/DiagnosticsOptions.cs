namespace FastProxy.Diagnostics;

/// <summary>The payload tap and the optional remote-write 2.0 → 1.0 translation.</summary>
internal sealed record DiagnosticsOptions
{
    /// <summary>Decode 1 request body in this many; 0 turns the tap off.</summary>
    public int SampleEvery { get; init; }

    /// <summary>How many summaries /fastproxy/payloads keeps.</summary>
    public int Recent { get; init; } = 20;

    /// <summary>Bodies larger than this are not copied by the tap (they are still forwarded).</summary>
    public int MaxBodyBytes { get; init; } = 4 * 1024 * 1024;

    /// <summary>Translate remote-write 2.0 bodies to 1.0 before forwarding.</summary>
    public bool TranslateV2ToV1 { get; init; }

    /// <summary>Largest decompressed body translated (Prometheus' own limit is 32 MiB).</summary>
    public int MaxDecompressedBytes { get; init; } = 32 * 1024 * 1024;
}
