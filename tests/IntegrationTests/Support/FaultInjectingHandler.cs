using System.Net;
using System.Text;

namespace StreamLanes.IntegrationTests.Support;

/// <summary>
/// Sits between a client and the emulator and answers some calls with an AWS error instead of forwarding them:
/// the emulators neither throttle nor expire iterators on demand.
/// </summary>
public sealed class FaultInjectingHandler : DelegatingHandler
{
    private readonly Func<string, int, (string Type, HttpStatusCode Status)?> _fault;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, int> _calls = new();

    /// <param name="fault">Given the operation (X-Amz-Target suffix) and its call number (from 1), the error to answer with, or null to forward.</param>
    public FaultInjectingHandler(Func<string, int, (string Type, HttpStatusCode Status)?> fault)
        : base(new SocketsHttpHandler())
    {
        _fault = fault;
    }

    public System.Collections.Concurrent.ConcurrentQueue<(string Operation, string Body, bool Injected)> Log { get; } = new();

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        string target = request.Headers.TryGetValues("X-Amz-Target", out IEnumerable<string>? values) ? values.First() : "";
        string operation = target[(target.LastIndexOf('.') + 1)..];
        string body = request.Content is null ? "" : await request.Content.ReadAsStringAsync(cancellationToken);
        int call = _calls.AddOrUpdate(operation, 1, static (_, n) => n + 1);
        if (_fault(operation, call) is (string type, HttpStatusCode status))
        {
            Log.Enqueue((operation, body, true));
            return new HttpResponseMessage(status)
            {
                Content = new StringContent($"{{\"__type\":\"{type}\",\"message\":\"injected by the test\"}}", Encoding.UTF8, "application/x-amz-json-1.1"),
            };
        }

        Log.Enqueue((operation, body, false));
        return await base.SendAsync(request, cancellationToken);
    }
}
