using System.Net;
using Amazon.Runtime;

namespace StreamLanes.Aws.Tests;

public sealed class TransportRetryTests
{
    private const string Throttled = """{"__type":"ProvisionedThroughputExceededException","message":"Rate exceeded for shard shardId-000000000000"}""";
    private const string ShardPage = """{"Shards":[{"ShardId":"shardId-000000000000","HashKeyRange":{"StartingHashKey":"0","EndingHashKey":"1"},"SequenceNumberRange":{"StartingSequenceNumber":"1"}}]}""";

    private static readonly DateTimeOffset Now = new(2026, 1, 2, 3, 4, 5, TimeSpan.Zero);

    private static AwsClientOptions Options(int maxRetries = 3) => new()
    {
        Region = "us-east-1",
        KinesisServiceUrl = new Uri("http://127.0.0.1:1/"),
        SqsServiceUrl = new Uri("http://127.0.0.1:1/"),
        Credentials = new BasicAWSCredentials("test", "test"),
        MaxTransportRetries = maxRetries,
        TransportRetry = { InitialDelay = TimeSpan.FromMilliseconds(100), MaxDelay = TimeSpan.FromMilliseconds(350) },
    };

    [Fact]
    public async Task Throttling_is_retried_with_exponential_backoff_then_succeeds()
    {
        var handler = new ScriptedHandler()
            .ThenRespond(HttpStatusCode.BadRequest, Throttled)
            .ThenRespond(HttpStatusCode.BadRequest, Throttled)
            .ThenRespond(HttpStatusCode.BadRequest, Throttled)
            .ThenRespond(HttpStatusCode.OK, ShardPage);
        using var http = new HttpClient(handler);
        var clock = new RecordingTimeProvider(Now);

        // Jitter pinned to its maximum makes each delay the full cap: 100, 200, then 400 capped at 350 ms.
        using var client = new KinesisClient(Options(), http, null, clock, jitter: () => 1.0);

        var page = await client.ListShardsAsync(new KinesisListShardsRequest { StreamName = "s" });

        Assert.Equal("shardId-000000000000", Assert.Single(page.Shards).ShardId);
        Assert.Equal(4, handler.Requests.Count);
        Assert.Equal(
            [TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(200), TimeSpan.FromMilliseconds(350)],
            clock.Delays.ToArray());
    }

    [Fact]
    public async Task Each_retry_is_signed_afresh()
    {
        var handler = new ScriptedHandler()
            .ThenRespond(HttpStatusCode.ServiceUnavailable, "")
            .ThenRespond(HttpStatusCode.OK, ShardPage);
        using var http = new HttpClient(handler);
        using var client = new KinesisClient(Options(), http, null, new RecordingTimeProvider(Now), jitter: () => 0.5);

        await client.ListShardsAsync(new KinesisListShardsRequest { StreamName = "s" });

        var requests = handler.Requests.ToArray();
        Assert.Equal(2, requests.Length);
        Assert.All(requests, r => Assert.StartsWith("AWS4-HMAC-SHA256 ", r.Headers["Authorization"], StringComparison.Ordinal));
        Assert.Equal(requests[0].BodyText, requests[1].BodyText);
    }

    [Fact]
    public async Task Jitter_draws_from_the_upper_half_of_the_delay()
    {
        var handler = new ScriptedHandler()
            .ThenRespond(HttpStatusCode.BadRequest, Throttled)
            .ThenRespond(HttpStatusCode.OK, ShardPage);
        using var http = new HttpClient(handler);
        var clock = new RecordingTimeProvider(Now);
        using var client = new KinesisClient(Options(), http, null, clock, jitter: () => 0.2);

        await client.ListShardsAsync(new KinesisListShardsRequest { StreamName = "s" });

        // One formula for every StreamLanes back-off: half the delay plus the random share of the other half.
        Assert.Equal([TimeSpan.FromMilliseconds(60)], clock.Delays.ToArray());
    }

    [Fact]
    public async Task Server_errors_and_network_errors_are_retried()
    {
        var handler = new ScriptedHandler()
            .ThenRespond(HttpStatusCode.InternalServerError, """{"__type":"InternalFailure"}""")
            .ThenThrow(new HttpRequestException(HttpRequestError.ConnectionError, "connection refused"))
            .ThenRespond(HttpStatusCode.BadGateway, "<html>bad gateway</html>")
            .ThenRespond(HttpStatusCode.OK, """{"Shards":[{"ShardId":"shardId-000000000000"}]}""");
        using var http = new HttpClient(handler);
        var clock = new RecordingTimeProvider(Now);
        using var client = new KinesisClient(Options(), http, null, clock, jitter: () => 1.0);

        var page = await client.ListShardsAsync(new KinesisListShardsRequest { StreamName = "s" });

        Assert.Equal("shardId-000000000000", Assert.Single(page.Shards).ShardId);
        Assert.Equal(4, handler.Requests.Count);
        Assert.Equal(3, clock.Delays.Count);
    }

    [Theory]
    [InlineData("ValidationException", AwsErrorKind.Validation)]
    [InlineData("ResourceNotFoundException", AwsErrorKind.ResourceNotFound)]
    [InlineData("AccessDeniedException", AwsErrorKind.AccessDenied)]
    [InlineData("ExpiredIteratorException", AwsErrorKind.ExpiredIterator)]
    public async Task Non_retryable_errors_surface_at_once(string code, AwsErrorKind kind)
    {
        var handler = new ScriptedHandler()
            .ThenRespond(HttpStatusCode.BadRequest, $$"""{"__type":"{{code}}","message":"no"}""")
            .ThenRespond(HttpStatusCode.OK, ShardPage);
        using var http = new HttpClient(handler);
        var clock = new RecordingTimeProvider(Now);
        using var client = new KinesisClient(Options(), http, null, clock, jitter: () => 1.0);

        var error = await Assert.ThrowsAsync<AwsServiceException>(
            () => client.ListShardsAsync(new KinesisListShardsRequest { StreamName = "s" }));

        Assert.Equal(kind, error.Kind);
        Assert.Equal(code, error.ErrorCode);
        Assert.Single(handler.Requests);
        Assert.Empty(clock.Delays);
    }

    [Fact]
    public async Task Throttling_that_outlasts_the_retries_surfaces_as_throttling()
    {
        var handler = new ScriptedHandler
        {
            Fallback = (_, _) => Task.FromResult(ScriptedHandler.Json(HttpStatusCode.BadRequest, Throttled)),
        };
        using var http = new HttpClient(handler);
        var clock = new RecordingTimeProvider(Now);
        using var client = new KinesisClient(Options(maxRetries: 2), http, null, clock, jitter: () => 1.0);

        var error = await Assert.ThrowsAsync<AwsServiceException>(() => client.GetRecordsAsync("iterator"));

        Assert.Equal(AwsErrorKind.Throttling, error.Kind);
        Assert.Equal(3, handler.Requests.Count);
        Assert.Equal(2, clock.Delays.Count);
    }

    [Fact]
    public async Task Network_errors_that_outlast_the_retries_surface_as_HttpRequestException()
    {
        var handler = new ScriptedHandler
        {
            Fallback = (_, _) => Task.FromException<HttpResponseMessage>(new HttpRequestException("connection refused")),
        };
        using var http = new HttpClient(handler);
        using var client = new KinesisClient(Options(maxRetries: 1), http, null, new RecordingTimeProvider(Now), jitter: () => 1.0);

        await Assert.ThrowsAsync<HttpRequestException>(() => client.GetRecordsAsync("iterator"));
        Assert.Equal(2, handler.Requests.Count);
    }

    [Fact]
    public async Task A_hung_attempt_times_out_and_is_retried()
    {
        var handler = new ScriptedHandler()
            .Then(async (_, ct) =>
            {
                await Task.Delay(Timeout.InfiniteTimeSpan, ct);
                throw new InvalidOperationException("unreachable");
            })
            .ThenRespond(HttpStatusCode.OK, ShardPage);
        using var http = new HttpClient(handler);
        var options = Options();
        options.RequestTimeout = TimeSpan.FromMilliseconds(200);
        options.TransportRetry.InitialDelay = TimeSpan.FromMilliseconds(1);
        options.TransportRetry.MaxDelay = TimeSpan.FromMilliseconds(1);
        using var client = new KinesisClient(options, http);

        var page = await client.ListShardsAsync(new KinesisListShardsRequest { StreamName = "s" });

        Assert.Single(page.Shards);
        Assert.Equal(2, handler.Requests.Count);
    }

    [Fact]
    public async Task A_hung_last_attempt_surfaces_as_TimeoutException()
    {
        var handler = new ScriptedHandler
        {
            Fallback = async (_, ct) =>
            {
                await Task.Delay(Timeout.InfiniteTimeSpan, ct);
                throw new InvalidOperationException("unreachable");
            },
        };
        using var http = new HttpClient(handler);
        var options = Options(maxRetries: 0);
        options.RequestTimeout = TimeSpan.FromMilliseconds(100);
        using var client = new KinesisClient(options, http);

        await Assert.ThrowsAsync<TimeoutException>(() => client.GetRecordsAsync("iterator"));
    }

    [Fact]
    public async Task Caller_cancellation_is_not_retried()
    {
        using var cts = new CancellationTokenSource();
        var handler = new ScriptedHandler
        {
            Fallback = async (_, ct) =>
            {
                await cts.CancelAsync();
                await Task.Delay(Timeout.InfiniteTimeSpan, ct);
                throw new InvalidOperationException("unreachable");
            },
        };
        using var http = new HttpClient(handler);
        using var client = new KinesisClient(Options(), http, null, new RecordingTimeProvider(Now), jitter: () => 1.0);

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => client.GetRecordsAsync("iterator", cancellationToken: cts.Token));
        Assert.Single(handler.Requests);
    }
}
