using System.Diagnostics.CodeAnalysis;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Amazon;
using Amazon.Runtime;
using Amazon.Runtime.Credentials;
using Amazon.Runtime.Signing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace StreamLanes.Aws;

/// <summary>
/// Sends one AWS JSON-protocol operation: serializes the request, signs it with SigV4, posts it, retries throttling,
/// service failures, network errors and timeouts through a pipeline of <see cref="ResiliencePipelines"/> (with
/// <see cref="AwsClientOptions.TransportRetry"/>), and maps errors to
/// <see cref="AwsServiceException"/>. The one place that talks HTTP to AWS, so the typed clients can later move to
/// the SDK clients without their callers noticing.
/// </summary>
internal sealed class AwsJsonTransport : IDisposable
{
    private readonly AwsServiceDescriptor _service;
    private readonly AwsClientOptions _options;
    private readonly HttpClient _httpClient;
    private readonly bool _ownsHttpClient;

    // Event streams (SubscribeToShard) get a handler of their own, created on first use; with a caller's HttpClient,
    // that client is used for them too.
    private readonly Lazy<HttpClient>? _eventStreamClient;
    private readonly ILogger _logger;
    private readonly TimeProvider _timeProvider;
    private readonly Polly.ResiliencePipeline _retry;
    private readonly RegionEndpoint _region;
    private readonly SemaphoreSlim _credentialsLock = new(1, 1);
    private AWSCredentials? _credentials;

    public AwsJsonTransport(
        AwsServiceDescriptor service,
        AwsClientOptions options,
        Uri? serviceOverride,
        HttpClient? httpClient,
        ILogger? logger,
        TimeProvider? timeProvider,
        Func<double>? jitter = null)
    {
        ArgumentNullException.ThrowIfNull(service);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();

        // A snapshot: later changes to the caller's options object must not change a running client.
        _options = options.Clone();
        _service = service;
        Endpoint = service.ResolveEndpoint(_options, serviceOverride);
        _region = RegionEndpoint.GetBySystemName(_options.Region);
        _credentials = _options.ResolveCredentials();
        _logger = logger ?? NullLogger.Instance;
        _timeProvider = timeProvider ?? TimeProvider.System;
        _retry = ResiliencePipelines.Retrying($"StreamLanes.{service.Name}.TransportRetry", _options.MaxTransportRetries, _options.TransportRetry, _timeProvider, jitter, IsRetryable);
        if (httpClient is null)
        {
            // Each attempt has its own timeout (RequestTimeout), so HttpClient's must not cut a long poll short.
            _httpClient = new HttpClient { Timeout = Timeout.InfiniteTimeSpan };
            _ownsHttpClient = true;
            _eventStreamClient = new Lazy<HttpClient>(CreateEventStreamClient);
        }
        else
        {
            _httpClient = httpClient;
        }
    }

    /// <summary>The URL every request of this service is posted to.</summary>
    public Uri Endpoint { get; }

    /// <summary>The options in force (a copy of the caller's).</summary>
    public AwsClientOptions Options => _options;

    /// <summary>Sends <paramref name="operation"/> and deserializes its response.</summary>
    public async Task<TResponse> SendAsync<TRequest, TResponse>(
        string operation,
        TRequest request,
        JsonTypeInfo<TRequest> requestType,
        JsonTypeInfo<TResponse> responseType,
        CancellationToken cancellationToken,
        TimeSpan extraTimeout = default)
    {
        var body = await SendCoreAsync(operation, request, requestType, extraTimeout, cancellationToken).ConfigureAwait(false);
        var response = JsonSerializer.Deserialize(body.Length == 0 ? "{}"u8 : body, responseType);
        return response ?? throw new JsonException($"{_service.Name}.{operation} returned a null response body.");
    }

    /// <summary>Sends <paramref name="operation"/> and ignores its (empty) response body.</summary>
    public async Task SendAsync<TRequest>(
        string operation,
        TRequest request,
        JsonTypeInfo<TRequest> requestType,
        CancellationToken cancellationToken)
    {
        await SendCoreAsync(operation, request, requestType, default, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Sends an event-stream operation (SubscribeToShard) over HTTP/2 (with TLS against AWS, h2c against a plain-HTTP
    /// endpoint) and returns the response once its headers arrived with success; the caller reads and disposes its body.
    /// Not retried here: the caller resubscribes from its own position.
    /// </summary>
    public async Task<HttpResponseMessage> OpenEventStreamAsync<TRequest>(
        string operation,
        TRequest request,
        JsonTypeInfo<TRequest> requestType,
        CancellationToken cancellationToken)
    {
        var payload = JsonSerializer.SerializeToUtf8Bytes(request, requestType);
        using var timeoutCts = new CancellationTokenSource(_options.RequestTimeout, _timeProvider);
        using var attemptCts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeoutCts.Token);
        HttpResponseMessage response;
        try
        {
            var message = await CreateSignedRequestAsync(operation, payload, attemptCts.Token).ConfigureAwait(false);
            message.Version = HttpVersion.Version20;
            message.VersionPolicy = HttpVersionPolicy.RequestVersionExact;

            // The timeout covers the response headers only; the body is a stream that lasts up to five minutes.
            HttpClient client = _eventStreamClient?.Value ?? _httpClient;
            response = await client.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, attemptCts.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException ex) when (timeoutCts.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"{_service.Name}.{operation} did not answer within {_options.RequestTimeout.TotalSeconds:0.###} s.", ex);
        }

        if (response.IsSuccessStatusCode)
        {
            return response;
        }

        using (response)
        {
            var body = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
            throw ServiceError(response, body, operation);
        }
    }

    public void Dispose()
    {
        _credentialsLock.Dispose();
        if (_ownsHttpClient)
        {
            if (_eventStreamClient is { IsValueCreated: true })
            {
                _eventStreamClient.Value.Dispose();
            }

            _httpClient.Dispose();
        }
    }

    private async Task<byte[]> SendCoreAsync<TRequest>(
        string operation,
        TRequest request,
        JsonTypeInfo<TRequest> requestType,
        TimeSpan extraTimeout,
        CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var payload = JsonSerializer.SerializeToUtf8Bytes(request, requestType);
        return await _retry.ExecuteAsync(
            static (state, token) => new ValueTask<byte[]>(state.transport.SendOnceAsync(state.operation, state.payload, state.extraTimeout, token)),
            (transport: this, operation, payload, extraTimeout),
            (ex, retry, delay) =>
            {
                string failure = FailureName(ex);
                AwsLog.RetryingAfterError(_logger, _service.Name, operation, failure, retry, _options.MaxTransportRetries, (long)delay.TotalMilliseconds);
            },
            cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Throttling, a 5xx, a network error or an attempt's timeout: worth another try. Validation, not-found and access-denied errors are not.</summary>
    private static bool IsRetryable(Exception exception) => exception switch
    {
        AwsServiceException service => service.IsRetryable,
        HttpRequestException or IOException or TimeoutException => true,
        _ => false,
    };

    private static string FailureName(Exception exception) => exception switch
    {
        AwsServiceException service => service.ErrorCode,
        HttpRequestException http => http.HttpRequestError.ToString(),
        IOException => "IOException",
        TimeoutException => "Timeout",
        _ => exception.GetType().Name,
    };

    private async Task<byte[]> SendOnceAsync(string operation, byte[] payload, TimeSpan extraTimeout, CancellationToken cancellationToken)
    {
        var timeout = _options.RequestTimeout + extraTimeout;
        using var timeoutCts = new CancellationTokenSource(timeout, _timeProvider);
        using var attemptCts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeoutCts.Token);
        try
        {
            using var message = await CreateSignedRequestAsync(operation, payload, attemptCts.Token).ConfigureAwait(false);
            using var response = await _httpClient
                .SendAsync(message, HttpCompletionOption.ResponseHeadersRead, attemptCts.Token)
                .ConfigureAwait(false);
            var body = await response.Content.ReadAsByteArrayAsync(attemptCts.Token).ConfigureAwait(false);
            if (response.IsSuccessStatusCode)
            {
                return body;
            }

            throw ServiceError(response, body, operation);
        }
        catch (OperationCanceledException ex) when (timeoutCts.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"{_service.Name}.{operation} did not complete within {timeout.TotalSeconds:0.###} s.", ex);
        }
    }

    private async Task<HttpRequestMessage> CreateSignedRequestAsync(string operation, byte[] payload, CancellationToken cancellationToken)
    {
        var target = $"{_service.TargetPrefix}.{operation}";
        var signingRequest = new AWSSigningRequest
        {
            HttpMethod = HttpMethod.Post,
            RequestUri = Endpoint,
            Content = payload,
        };
        signingRequest.Headers["Content-Type"] = _service.ContentType;
        signingRequest.Headers["X-Amz-Target"] = target;

        var parameters = new AWSSigV4Parameters
        {
            Credentials = await GetCredentialsAsync(cancellationToken).ConfigureAwait(false),
            Region = _region,
            Service = _service.SigningName,
            SignedAt = _timeProvider.GetUtcNow().UtcDateTime,
        };
        var signed = await AWSSigV4Signer.SignAsync(signingRequest, parameters, cancellationToken).ConfigureAwait(false);

        var message = new HttpRequestMessage(HttpMethod.Post, Endpoint)
        {
            Content = new ByteArrayContent(payload),
            Version = HttpVersion.Version11,
        };

        // The signer returns only its own headers (Authorization, X-Amz-Date, X-Amz-Content-SHA256 and, for session
        // credentials, X-Amz-Security-Token); the request's own signed headers must be sent exactly as signed.
        message.Content.Headers.ContentType = new MediaTypeHeaderValue(_service.ContentType);
        message.Headers.TryAddWithoutValidation("X-Amz-Target", target);
        foreach (var header in signed.Headers)
        {
            message.Headers.TryAddWithoutValidation(header.Key, header.Value);
        }

        return message;
    }

    private async ValueTask<AWSCredentials> GetCredentialsAsync(CancellationToken cancellationToken)
    {
        if (_credentials is { } cached)
        {
            return cached;
        }

        await _credentialsLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_credentials is null)
            {
                // The resolved AWSCredentials refreshes itself (assumed roles, SSO, instance metadata), so it is kept.
                var resolved = await DefaultAWSCredentialsIdentityResolver.GetCredentialsAsync(clientConfig: null).ConfigureAwait(false);
                AwsLog.CredentialsResolved(_logger, resolved.GetType().Name);
                _credentials = resolved;
            }

            return _credentials;
        }
        finally
        {
            _credentialsLock.Release();
        }
    }

    /// <summary>
    /// The handler for event streams. Each subscription is one HTTP/2 stream; its receive window bounds what is
    /// buffered while the consumer does not read (backpressure), so it is sized for one large event (a shard pushes at
    /// most 2 MB/s) rather than HTTP/2's 64 KB default, which some servers cannot start a large first event through.
    /// Several connections may be opened, so that more subscriptions than one connection's stream limit can run.
    /// </summary>
    private static HttpClient CreateEventStreamClient() => new(new SocketsHttpHandler
    {
        InitialHttp2StreamWindowSize = EventStreamWindowBytes,
        EnableMultipleHttp2Connections = true,
        KeepAlivePingDelay = TimeSpan.FromSeconds(60),
        KeepAlivePingTimeout = TimeSpan.FromSeconds(20),
        KeepAlivePingPolicy = HttpKeepAlivePingPolicy.WithActiveRequests,
    })
    {
        Timeout = Timeout.InfiniteTimeSpan,
    };

    /// <summary>The receive window of one subscription: what a paused shard may hold unread (4 MiB).</summary>
    internal const int EventStreamWindowBytes = 4 * 1024 * 1024;

    /// <summary>The typed error for a non-success response, logged once (code, status and kind; never the body).</summary>
    private AwsServiceException ServiceError(HttpResponseMessage response, byte[] body, string operation)
    {
        var exception = AwsErrorClassifier.FromResponse(
            response.StatusCode,
            HeaderValue(response, "x-amzn-ErrorType"),
            HeaderValue(response, "x-amzn-query-error"),
            HeaderValue(response, "x-amzn-RequestId") ?? HeaderValue(response, "x-amz-request-id"),
            body,
            _service.Name,
            operation);
        AwsLog.ServiceError(_logger, _service.Name, operation, exception.ErrorCode, (int)response.StatusCode, exception.Kind);
        return exception;
    }

    private static string? HeaderValue(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) ? values.FirstOrDefault() : null;
}
