using FastProxy.Listener;

namespace FastProxy.Tests.Listener;

public sealed class StartupCodeReleaseTests
{
    [Theory]
    [InlineData("55d1a2c00000-55d1a2e00000 r-xp 00200000 08:01 1234 /app/fastproxy", 0x55d1a2c00000UL, 0x55d1a2e00000UL, false, "/app/fastproxy")]
    [InlineData("7f00aa000000-7f00aa001000 rw-p 00000000 00:00 0 ", 0x7f00aa000000UL, 0x7f00aa001000UL, true, null)]
    [InlineData("7ffd1c1de000-7ffd1c1ff000 rw-p 00000000 00:00 0                          [stack]", 0x7ffd1c1de000UL, 0x7ffd1c1ff000UL, true, "[stack]")]
    [InlineData("7f1e2a400000-7f1e2a5b2000 r--p 00000000 fe:01 66 /usr/lib/a dir/with spaces.so", 0x7f1e2a400000UL, 0x7f1e2a5b2000UL, false, "/usr/lib/a dir/with spaces.so")]
    public void ParsesAMappingLine(string line, ulong start, ulong end, bool writable, string? path)
    {
        Assert.True(StartupCodeRelease.TryParseMapping(line, out var parsedStart, out var parsedEnd, out var parsedWritable, out var parsedPath));

        Assert.Equal(start, parsedStart);
        Assert.Equal(end, parsedEnd);
        Assert.Equal(writable, parsedWritable);
        Assert.Equal(path, parsedPath);
    }

    [Theory]
    [InlineData("")]
    [InlineData("not a mapping")]
    [InlineData("zz-10 r-xp 0 0 0 /x")]
    [InlineData("2000-1000 r-xp 00000000 00:00 0 /x")]
    public void RefusesAMalformedLine(string line) =>
        Assert.False(StartupCodeRelease.TryParseMapping(line, out _, out _, out _, out _));

    [Fact]
    public void Release_AdvisesTheReadOnlyMappingsOfAFile()
    {
        // The test host's own executable: mapped read-only and executable, and cold once started.
        var (mappings, bytes, error) = StartupCodeRelease.Release(Environment.ProcessPath!);

        Assert.Equal(0, error);
        Assert.InRange(mappings, 1, 64);
        Assert.True(bytes > 0);
    }

    [Fact]
    public void Release_OfAFileNotMapped_AdvisesNothing() =>
        Assert.Equal((0, 0L, 0), StartupCodeRelease.Release("/no/such/executable"));
}
