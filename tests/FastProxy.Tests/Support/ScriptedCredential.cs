using System.Threading.Channels;
using Azure.Core;

namespace FastProxy.Tests.Support;

/// <summary>
/// A TokenCredential whose answers a test scripts, for tests of the token holder (the thing under
/// test there is the refresher, not Azure.Identity, which the integration tests run for real).
/// </summary>
internal sealed class ScriptedCredential : TokenCredential
{
    private readonly Queue<Func<AccessToken>> _answers = new();
    private readonly Channel<TokenRequestContext> _calls = Channel.CreateUnbounded<TokenRequestContext>();
    private Func<AccessToken>? _default;

    public int Calls { get; private set; }

    public ScriptedCredential Then(Func<AccessToken> answer)
    {
        _answers.Enqueue(answer);
        return this;
    }

    public ScriptedCredential ThenAlways(Func<AccessToken> answer)
    {
        _default = answer;
        return this;
    }

    public ChannelReader<TokenRequestContext> CallLog => _calls.Reader;

    public override AccessToken GetToken(TokenRequestContext requestContext, CancellationToken cancellationToken) =>
        Answer(requestContext);

    public override ValueTask<AccessToken> GetTokenAsync(TokenRequestContext requestContext, CancellationToken cancellationToken) =>
        ValueTask.FromResult(Answer(requestContext));

    private AccessToken Answer(TokenRequestContext context)
    {
        Calls++;
        _calls.Writer.TryWrite(context);
        var answer = _answers.Count > 0 ? _answers.Dequeue() : _default ?? throw new InvalidOperationException("no scripted answer");
        return answer();
    }
}
