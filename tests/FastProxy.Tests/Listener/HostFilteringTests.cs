using FastProxy.Listener;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;

namespace FastProxy.Tests.Listener;

public sealed class HostFilteringTests
{
    [Fact]
    public void WebApplicationsHostCheck_IsTakenOutOfThePipeline()
    {
        var services = WebApplication.CreateSlimBuilder().Services;
        // Guards the name the removal looks for: a renamed filter would otherwise stay unnoticed.
        Assert.Contains(services, IsHostFilter);

        ProxyServer.RemoveHostFiltering(services);

        Assert.DoesNotContain(services, IsHostFilter);
        Assert.Contains(services, d => d.ServiceType == typeof(IStartupFilter));
    }

    private static bool IsHostFilter(ServiceDescriptor descriptor) =>
        descriptor.ServiceType == typeof(IStartupFilter) && descriptor.ImplementationType?.Name == "HostFilteringStartupFilter";
}
