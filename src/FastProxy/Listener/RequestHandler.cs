using System.Text.Json;
using FastProxy.Forwarding;
using FastProxy.Identity;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace FastProxy.Listener;

/// <summary>
/// The one request delegate: the probe paths aad-auth-proxy answered, then forwarding. No
/// routing middleware: two string comparisons decide.
/// </summary>
internal sealed class RequestHandler
{
    private readonly RouteTable _routes;
    private readonly HttpForwarder _forwarder;
    private readonly ErrorResponder _errors;
    private readonly TokenSources _tokens;

    public RequestHandler(RouteTable routes, HttpForwarder forwarder, ErrorResponder errors, TokenSources tokens)
    {
        _routes = routes;
        _forwarder = forwarder;
        _errors = errors;
        _tokens = tokens;
    }

    public Task HandleAsync(HttpContext context)
    {
        var path = context.Request.Path.Value;
        if (path is "/health")
        {
            return WriteHealthAsync(context);
        }

        if (path is "/ready")
        {
            return WriteReadyAsync(context);
        }

        var rawTarget = context.Features.Get<IHttpRequestFeature>()!.RawTarget;
        if (rawTarget.Length == 0 || rawTarget[0] != '/')
        {
            // Absolute-form ("http://other-host/…") and asterisk-form targets: forwarding them would
            // let a client pick the upstream, which must only ever be the configured target.
            return _errors.ReportAsync(context, ForwarderError.RequestTargetRejected, null).AsTask();
        }

        var route = _routes.Match(rawTarget);
        if (route is null)
        {
            return _errors.ReportAsync(context, ForwarderError.RequestTargetRejected, null).AsTask();
        }

        return _forwarder.ForwardAsync(context, route, rawTarget);
    }

    private static Task WriteHealthAsync(HttpContext context)
    {
        context.Response.StatusCode = StatusCodes.Status200OK;
        context.Response.ContentType = "application/json";
        return context.Response.Body.WriteAsync("{\"status\":\"healthy\"}"u8.ToArray()).AsTask();
    }

    private async Task WriteReadyAsync(HttpContext context)
    {
        var ready = _tokens.IsReady(out var notReady);
        context.Response.StatusCode = ready ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable;
        context.Response.ContentType = "application/json";
        if (!ready)
        {
            context.Response.Headers.RetryAfter = ErrorResponder.RetryAfterSeconds;
        }

        using (var json = new Utf8JsonWriter(context.Response.BodyWriter))
        {
            json.WriteStartObject();
            if (ready)
            {
                json.WriteString("status", "ready");
            }
            else
            {
                json.WriteString("error", "not_ready");
                json.WriteString("message", DescribeNotReady(notReady!));
            }

            json.WriteStartArray("tokens");
            foreach (var source in _tokens.All)
            {
                json.WriteStartObject();
                json.WriteString("scope", source.Scope);
                if (source.Current is { } token)
                {
                    json.WriteString("expiresOn", token.ExpiresOn);
                    json.WriteString("refreshOn", token.RefreshOn);
                }

                if (source.LastFailure is { } failure)
                {
                    json.WriteString("lastFailure", failure);
                }

                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteEndObject();
        }

        await context.Response.BodyWriter.FlushAsync(context.RequestAborted);
    }

    private static string DescribeNotReady(TokenSource source) => source switch
    {
        { Current: not null, LastFailure: { } failure } => $"the token for {source.Scope} expired and could not be renewed: {failure}",
        { Current: not null } => $"the token for {source.Scope} expired; a new one is being fetched",
        { LastFailure: { } failure } => $"no token for {source.Scope} yet: {failure}",
        _ => $"no token for {source.Scope} yet: the first one is being fetched",
    };
}
