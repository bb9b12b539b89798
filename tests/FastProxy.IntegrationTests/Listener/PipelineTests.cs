using FastProxy.IntegrationTests.Support;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;

namespace FastProxy.IntegrationTests.Listener;

public sealed class PipelineTests
{
    [Fact]
    public async Task RunningProxy_HasNoHostCheckInFrontOfItsHandler()
    {
        await using var upstream = await FakeUpstream.StartAsync();
        await using var proxy = await InProcessProxy.StartAsync(upstream.BaseUrl);

        var filters = proxy.Server.Services.GetServices<IStartupFilter>().Select(f => f.GetType().Name).ToList();

        Assert.DoesNotContain("HostFilteringStartupFilter", filters);
    }
}
