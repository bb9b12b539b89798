using System.Net;
using FastProxy.Configuration;
using FastProxy.Tests.Support;
using FastProxy.Listener;

namespace FastProxy.Tests.Configuration;

public sealed class SecuritySettingsTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("fastproxy-security-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private static ConfigurationResult Load(params (string Name, string Value)[] extra) => ConfigurationFixture.LoadIngestion(extra);

    private string TokenFile(string content)
    {
        var path = Path.Combine(_directory, "token-" + Guid.NewGuid().ToString("N"));
        File.WriteAllText(path, content);
        return path;
    }

    [Fact]
    public void Unset_GivesProductionDefaultsAndNoInboundProtection()
    {
        var result = Load();

        Assert.True(result.IsValid, string.Join("\n", result.Errors));
        var security = result.Options!.Security;
        Assert.Null(security.InboundTokenFile);
        Assert.Empty(security.AllowedSourceNetworks);
        Assert.False(security.HasInboundProtection);
        Assert.Equal(64L * 1024 * 1024, security.MaxRequestBodyBytes);
        Assert.Equal(32 * 1024, security.MaxRequestHeadersBytes);
        Assert.Equal(100, security.MaxRequestHeaderCount);
        Assert.Equal(TimeSpan.FromSeconds(30), security.RequestHeadersTimeout);
        Assert.Equal(TimeSpan.FromSeconds(130), security.KeepAliveTimeout);
        Assert.Equal(240, security.MinRequestBodyDataRate);
        Assert.Equal(1024, security.MaxConcurrentConnections);
        Assert.Equal(1024, security.MaxConcurrentRequests);
        Assert.Null(security.Tls);
    }

    [Fact]
    public void EverySetting_IsReadWithItsValue()
    {
        var token = TokenFile("s3cret\n");
        var result = Load(("INBOUND_TOKEN_FILE", token), ("ALLOWED_SOURCE_CIDRS", " 10.0.0.0/8, 127.0.0.1/32 ,fd00::/8,192.168.1.7"),
            ("MAX_REQUEST_BODY_BYTES", "1000000"), ("MAX_REQUEST_HEADERS_BYTES", "16384"), ("MAX_REQUEST_HEADER_COUNT", "50"),
            ("REQUEST_HEADERS_TIMEOUT_SECONDS", "5"), ("KEEP_ALIVE_TIMEOUT_SECONDS", "60.5"), ("MIN_REQUEST_BODY_DATA_RATE", "1000"),
            ("MAX_CONCURRENT_CONNECTIONS", "10"), ("MAX_CONCURRENT_REQUESTS", "20"));

        Assert.True(result.IsValid, string.Join("\n", result.Errors));
        var security = result.Options!.Security;
        Assert.Equal(token, security.InboundTokenFile);
        Assert.Equal(["10.0.0.0/8", "127.0.0.1/32", "fd00::/8", "192.168.1.7/32"], security.AllowedSourceNetworks.Select(n => n.ToString()));
        Assert.True(security.HasInboundProtection);
        Assert.Equal(1_000_000, security.MaxRequestBodyBytes);
        Assert.Equal(16384, security.MaxRequestHeadersBytes);
        Assert.Equal(50, security.MaxRequestHeaderCount);
        Assert.Equal(TimeSpan.FromSeconds(5), security.RequestHeadersTimeout);
        Assert.Equal(TimeSpan.FromSeconds(60.5), security.KeepAliveTimeout);
        Assert.Equal(1000, security.MinRequestBodyDataRate);
        Assert.Equal(10, security.MaxConcurrentConnections);
        Assert.Equal(20, security.MaxConcurrentRequests);
    }

    [Fact]
    public void Zero_MeansUnlimitedOrOff()
    {
        var result = Load(("MAX_REQUEST_BODY_BYTES", "0"), ("MIN_REQUEST_BODY_DATA_RATE", "0"), ("MAX_CONCURRENT_CONNECTIONS", "0"), ("MAX_CONCURRENT_REQUESTS", "0"));

        Assert.True(result.IsValid, string.Join("\n", result.Errors));
        Assert.Null(result.Options!.Security.MaxRequestBodyBytes);
        Assert.Equal(0, result.Options.Security.MinRequestBodyDataRate);
        Assert.Null(result.Options.Security.MaxConcurrentConnections);
        Assert.Null(result.Options.Security.MaxConcurrentRequests);
    }

    [Fact]
    public void AllowList_Alone_CountsAsInboundProtection()
    {
        var result = Load(("ALLOWED_SOURCE_CIDRS", "10.0.0.0/8"));

        Assert.True(result.Options!.Security.HasInboundProtection);
    }

    [Theory]
    [InlineData("ALLOWED_SOURCE_CIDRS", "10.0.0.0/33", "'10.0.0.0/33' is not a CIDR")]
    [InlineData("ALLOWED_SOURCE_CIDRS", "10.0.0.1/8", "'10.0.0.1/8' is not a CIDR")]
    [InlineData("ALLOWED_SOURCE_CIDRS", "10.0.0.0/8,nonsense", "'nonsense' is not a CIDR")]
    [InlineData("ALLOWED_SOURCE_CIDRS", ",,", "lists no CIDR")]
    [InlineData("MAX_REQUEST_BODY_BYTES", "-1", "'-1' is not a whole number of at least 0")]
    [InlineData("MAX_REQUEST_BODY_BYTES", "64MiB", "'64MiB' is not a whole number")]
    [InlineData("MAX_REQUEST_HEADERS_BYTES", "100", "'100' is not a whole number from 1024 to 1048576")]
    [InlineData("MAX_REQUEST_HEADER_COUNT", "0", "'0' is not a whole number from 1 to 10000")]
    [InlineData("REQUEST_HEADERS_TIMEOUT_SECONDS", "0", "'0' is not a number of seconds above 0")]
    [InlineData("KEEP_ALIVE_TIMEOUT_SECONDS", "forever", "'forever' is not a number of seconds")]
    [InlineData("MIN_REQUEST_BODY_DATA_RATE", "slow", "'slow' is not a whole number")]
    [InlineData("MAX_CONCURRENT_CONNECTIONS", "-5", "'-5' is not a whole number from 0 to 1000000")]
    [InlineData("MAX_CONCURRENT_REQUESTS", "many", "'many' is not a whole number from 0 to 1000000")]
    public void InvalidValue_IsOneClearLineNamingTheVariable(string name, string value, string expected)
    {
        var result = Load((name, value));

        Assert.False(result.IsValid);
        var error = Assert.Single(result.Errors);
        Assert.StartsWith(name + " ", error, StringComparison.Ordinal);
        Assert.Contains(expected, error, StringComparison.Ordinal);
    }

    [Fact]
    public void TokenFile_Missing_IsAConfigurationError()
    {
        var path = Path.Combine(_directory, "absent");

        var result = Load(("INBOUND_TOKEN_FILE", path));

        var error = Assert.Single(result.Errors);
        Assert.Equal("INBOUND_TOKEN_FILE file " + path + " does not exist; mount the token's Secret there or correct the path", error);
    }

    [Theory]
    [InlineData("")]
    [InlineData(" \n\r\n")]
    public void TokenFile_Empty_IsAConfigurationError(string content)
    {
        var result = Load(("INBOUND_TOKEN_FILE", TokenFile(content)));

        var error = Assert.Single(result.Errors);
        Assert.Contains("is empty", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Describe_NamesTheTokenFileButNeverTheToken()
    {
        var path = TokenFile("never-show-this-token");
        var options = Load(("INBOUND_TOKEN_FILE", path)).Options!;

        var lines = string.Join("\n", options.Describe());

        Assert.Contains(path, lines, StringComparison.Ordinal);
        Assert.DoesNotContain("never-show-this-token", lines, StringComparison.Ordinal);
    }

    [Fact]
    public void Flag_OverridesTheEnvironment()
    {
        var environment = new Dictionary<string, string>
        {
            ["TARGET_HOST"] = "myws-abcd.eastus-1.metrics.ingest.monitor.azure.com",
            ["MAX_REQUEST_HEADER_COUNT"] = "50",
        };
        var flags = new Dictionary<Setting, string?> { [Settings.MaxRequestHeaderCount] = "70" };

        var result = new ConfigurationLoader(flags, name => environment.GetValueOrDefault(name)).Load();

        Assert.Equal(70, result.Options!.Security.MaxRequestHeaderCount);
    }

    [Fact]
    public void SecuritySettings_AreInTheSingleTable()
    {
        Assert.All(Settings.Security, s => Assert.Contains(s, Settings.All));
        Assert.Equal(14, Settings.Security.Count);
        Assert.True(IPNetwork.Parse("10.0.0.0/8").Contains(IPAddress.Parse("10.1.2.3")));
    }
}
