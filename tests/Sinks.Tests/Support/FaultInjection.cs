using System.Net;
using System.Reflection;
using System.Text;
using System.Text.Json.Nodes;

namespace StreamLanes.Sinks.Tests.Support;

/// <summary>What the fault handler does with a request while a fault is set.</summary>
public enum Fault
{
    None,

    /// <summary>The service is unreachable: the request never arrives.</summary>
    Down,

    /// <summary>The request arrives and is processed, but the acknowledgement is lost (a 500 replaces the response).</summary>
    LoseAcknowledgement,
}

/// <summary>An HTTP handler between an AWS JSON client and the emulator that injects outages, and fails chosen batch entries.</summary>
public sealed class FaultInjectingHandler() : DelegatingHandler(new HttpClientHandler())
{
    private volatile Fault _fault;
    private int _requests;
    private int _sendBatchCalls;
    private readonly List<int> _batchSizes = [];

    public Fault Fault { get => _fault; set => _fault = value; }

    /// <summary>SendMessageBatch entries whose body contains this text are dropped from the request and reported failed.</summary>
    public string? FailEntriesContaining { get; set; }

    public int Requests => Volatile.Read(ref _requests);

    public int SendBatchCalls => Volatile.Read(ref _sendBatchCalls);

    public IReadOnlyList<int> BatchSizes
    {
        get
        {
            lock (_batchSizes)
            {
                return [.. _batchSizes];
            }
        }
    }

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _requests);
        Fault fault = _fault;
        if (fault == Fault.Down)
        {
            throw new HttpRequestException("Connection refused (injected outage).");
        }

        string target = request.Headers.TryGetValues("X-Amz-Target", out IEnumerable<string>? values) ? values.First() : string.Empty;
        List<string> failedIds = [];
        int remaining = -1;
        if (target.EndsWith(".SendMessageBatch", StringComparison.Ordinal))
        {
            Interlocked.Increment(ref _sendBatchCalls);
            string body = await request.Content!.ReadAsStringAsync(cancellationToken);
            JsonObject json = JsonNode.Parse(body)!.AsObject();
            JsonArray entries = json["Entries"]!.AsArray();
            lock (_batchSizes)
            {
                _batchSizes.Add(entries.Count);
            }

            if (FailEntriesContaining is { } marker)
            {
                foreach (JsonNode? entry in entries.ToList())
                {
                    if (entry!["MessageBody"]!.GetValue<string>().Contains(marker, StringComparison.Ordinal))
                    {
                        failedIds.Add(entry["Id"]!.GetValue<string>());
                        entries.Remove(entry);
                    }
                }

                remaining = entries.Count;
                var content = new StringContent(json.ToJsonString(), Encoding.UTF8);
                content.Headers.ContentType = request.Content.Headers.ContentType;
                request.Content = content;
            }
        }

        HttpResponseMessage response;
        if (remaining == 0)
        {
            response = new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent("{\"Successful\":[],\"Failed\":[]}") };
        }
        else
        {
            response = await base.SendAsync(request, cancellationToken);
        }

        if (fault == Fault.LoseAcknowledgement)
        {
            response.Dispose();
            return new HttpResponseMessage(HttpStatusCode.InternalServerError)
            {
                Content = new StringContent("{\"__type\":\"InternalFailure\",\"message\":\"injected: acknowledgement lost\"}"),
            };
        }

        if (failedIds.Count > 0)
        {
            JsonObject result = JsonNode.Parse(await response.Content.ReadAsStringAsync(cancellationToken))!.AsObject();
            JsonArray failed = result["Failed"] as JsonArray ?? [];
            result["Failed"] = failed;
            foreach (string id in failedIds)
            {
                failed.Add(new JsonObject { ["Id"] = id, ["Code"] = "InternalError", ["SenderFault"] = false, ["Message"] = "injected entry failure" });
            }

            response.Content = new StringContent(result.ToJsonString(), Encoding.UTF8, "application/x-amz-json-1.0");
        }

        return response;
    }
}

/// <summary>Wraps an AWS SDK client interface and fails every call while <see cref="Down"/> is set.</summary>
public class FaultyProxy<T> : DispatchProxy
    where T : class
{
    private T _inner = null!;
    private volatile bool _down;
    private int _failures;

    public bool Down { get => _down; set => _down = value; }

    public int Failures => Volatile.Read(ref _failures);

    internal void Wrap(T inner) => _inner = inner;

    protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
    {
        if (_down && targetMethod!.ReturnType.IsAssignableTo(typeof(Task)))
        {
            Interlocked.Increment(ref _failures);
            var error = new Amazon.Runtime.AmazonServiceException("injected outage", new HttpRequestException("Connection refused (injected)."));
            Type returnType = targetMethod.ReturnType;
            if (returnType.IsGenericType)
            {
                MethodInfo fromException = typeof(Task).GetMethod(nameof(Task.FromException), 1, [typeof(Exception)])!.MakeGenericMethod(returnType.GetGenericArguments()[0]);
                return fromException.Invoke(null, [error]);
            }

            return Task.FromException(error);
        }

        try
        {
            return targetMethod!.Invoke(_inner, args);
        }
        catch (TargetInvocationException ex) when (ex.InnerException is not null)
        {
            throw ex.InnerException;
        }
    }
}

public static class FaultyProxy
{
    public static (T Client, FaultyProxy<T> Control) Create<T>(T inner)
        where T : class
    {
        T proxy = DispatchProxy.Create<T, FaultyProxy<T>>();
        var control = (FaultyProxy<T>)(object)proxy;
        control.Wrap(inner);
        return (proxy, control);
    }
}
