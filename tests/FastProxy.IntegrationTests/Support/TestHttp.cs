using System.Net;

namespace FastProxy.IntegrationTests.Support;

/// <summary>Clients for talking to FastProxy: no proxy, no cookies, no redirects, no decompression, bounded.</summary>
internal static class TestHttp
{
    public static HttpClient CreateClient(Uri? baseAddress = null, TimeSpan? timeout = null, Version? version = null)
    {
        var handler = new SocketsHttpHandler
        {
            UseProxy = false,
            UseCookies = false,
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            ConnectTimeout = TimeSpan.FromSeconds(5),
        };
        var client = new HttpClient(handler) { Timeout = timeout ?? TimeSpan.FromSeconds(30) };
        if (baseAddress is not null)
        {
            client.BaseAddress = baseAddress;
        }

        if (version is not null)
        {
            client.DefaultRequestVersion = version;
            client.DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact;
        }

        return client;
    }

    /// <summary>A remote-write POST as Prometheus sends it: snappy-compressed protobuf to /api/v1/write.</summary>
    public static HttpRequestMessage RemoteWrite(byte[] body)
    {
        var content = new ByteArrayContent(body);
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/x-protobuf");
        content.Headers.ContentEncoding.Add("snappy");
        return new HttpRequestMessage(HttpMethod.Post, "/api/v1/write") { Content = content };
    }
}
