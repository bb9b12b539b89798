using FastProxy.Listener;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Primitives;
using Microsoft.Extensions.Time.Testing;

namespace FastProxy.Tests.Listener;

public sealed class InboundTokenTests : IDisposable
{
    private readonly string _path = Path.Combine(Directory.CreateTempSubdirectory("fastproxy-inbound-").FullName, "token");

    public void Dispose() => Directory.Delete(Path.GetDirectoryName(_path)!, recursive: true);

    [Theory]
    [InlineData("Bearer right-token", true)]
    [InlineData("bearer right-token", true)]
    [InlineData("Bearer  right-token ", true)]
    [InlineData("Bearer wrong-token", false)]
    [InlineData("Bearer right-toke", false)]
    [InlineData("Bearer right-token2", false)]
    [InlineData("Basic cmlnaHQtdG9rZW4=", false)]
    [InlineData("right-token", false)]
    [InlineData("Bearer ", false)]
    [InlineData("", false)]
    public void Header_IsAcceptedOnlyWithTheFilesToken(string header, bool accepted)
    {
        File.WriteAllText(_path, "right-token\n");
        var token = InboundToken.Load(_path, TimeProvider.System, NullLogger.Instance);

        Assert.Equal(accepted, token.IsAuthorized(new StringValues(header)));
    }

    [Fact]
    public void MissingOrRepeatedHeader_IsRefused()
    {
        File.WriteAllText(_path, "right-token");
        var token = InboundToken.Load(_path, TimeProvider.System, NullLogger.Instance);

        Assert.False(token.IsAuthorized(StringValues.Empty));
        Assert.False(token.IsAuthorized(new StringValues(["Bearer right-token", "Bearer right-token"])));
    }

    [Fact]
    public void RotatedFile_IsFollowedAtTheNextCheck_OldTokenRefused()
    {
        var time = new FakeTimeProvider();
        File.WriteAllText(_path, "old-token");
        var token = InboundToken.Load(_path, time, NullLogger.Instance);
        File.WriteAllText(_path, "the-new-token");
        File.SetLastWriteTimeUtc(_path, DateTime.UtcNow.AddMinutes(1));

        // Within the check interval the held token stays in force: no file system call per request.
        Assert.True(token.IsAuthorized(new StringValues("Bearer old-token")));
        time.Advance(TimeSpan.FromSeconds(1.1));

        Assert.True(token.IsAuthorized(new StringValues("Bearer the-new-token")));
        Assert.False(token.IsAuthorized(new StringValues("Bearer old-token")));
    }

    [Fact]
    public void FileVanishing_KeepsTheHeldToken()
    {
        var time = new FakeTimeProvider();
        File.WriteAllText(_path, "kept-token");
        var token = InboundToken.Load(_path, time, NullLogger.Instance);
        File.Delete(_path);
        time.Advance(TimeSpan.FromSeconds(2));

        Assert.True(token.IsAuthorized(new StringValues("Bearer kept-token")));
    }
}
