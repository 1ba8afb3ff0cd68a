using System.Globalization;
using System.Net;
using System.Numerics;
using System.Text;
using StreamLanes.TestInfrastructure;

namespace StreamLanes.Aws.Tests;

/// <summary>Enhanced fan-out against kinesis-mock: consumer registration and SubscribeToShard over h2c.</summary>
[Collection(EmulatorCollections.Kinesis)]
public sealed class KinesisFanOutIntegrationTests(KinesisEmulatorFixture emulator) : IAsyncLifetime
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);
    private readonly KinesisClient _client = emulator.CreateKinesisClient();
    private readonly string _stream = EmulatorFixture.UniqueName("sl-efo");
    private string _streamArn = string.Empty;
    private string _shardId = string.Empty;

    public async Task InitializeAsync()
    {
        using var cts = new CancellationTokenSource(Patience);
        await _client.CreateStreamAsync(_stream, 1, cts.Token);
        await _client.WaitForStreamActiveAsync(_stream, cts.Token);
        _streamArn = (await _client.DescribeStreamSummaryAsync(_stream, cts.Token)).StreamArn;
        _shardId = (await _client.ListAllShardsAsync(_stream, cancellationToken: cts.Token)).Single().ShardId;
    }

    public Task DisposeAsync()
    {
        _client.Dispose();
        return Task.CompletedTask;
    }

    [Fact]
    public async Task Ensuring_a_consumer_twice_returns_the_same_active_consumer()
    {
        using var cts = new CancellationTokenSource(Patience);

        var first = await _client.EnsureStreamConsumerActiveAsync(_streamArn, "app-a", cts.Token);
        var again = await _client.EnsureStreamConsumerActiveAsync(_streamArn, "app-a", cts.Token);

        Assert.True(first.IsActive);
        Assert.Equal(first.ConsumerArn, again.ConsumerArn);
        Assert.StartsWith(_streamArn + "/consumer/app-a", first.ConsumerArn, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_subscription_over_http2_replays_from_trim_horizon_then_pushes_new_records_in_order()
    {
        using var cts = new CancellationTokenSource(Patience);
        var consumer = await _client.EnsureStreamConsumerActiveAsync(_streamArn, "app-b", cts.Token);
        List<string> before = await PutAsync(0, 5, cts.Token);

        await using var subscription = await _client.SubscribeToShardAsync(
            consumer.ConsumerArn, _shardId, new KinesisSubscriptionStart(KinesisShardIteratorType.TrimHorizon), cts.Token);
        Assert.Equal(HttpVersion.Version20, subscription.HttpVersion);
        var (replayed, _) = await ReadRecordsAsync(subscription, 5, cts.Token);
        List<string> after = await PutAsync(5, 3, cts.Token);
        var (pushed, continuation) = await ReadRecordsAsync(subscription, 3, cts.Token);

        Assert.Equal(before, replayed.Select(r => r.SequenceNumber));
        Assert.Equal(after, pushed.Select(r => r.SequenceNumber));
        Assert.Equal(["r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7"], replayed.Concat(pushed).Select(r => Encoding.UTF8.GetString(r.Data.Span)));
        Assert.Equal(after[^1], continuation);
    }

    [Fact]
    public async Task Resubscribing_after_the_continuation_sequence_number_has_no_gap_and_no_repeat()
    {
        using var cts = new CancellationTokenSource(Patience);
        var consumer = await _client.EnsureStreamConsumerActiveAsync(_streamArn, "app-c", cts.Token);
        await PutAsync(0, 4, cts.Token);
        string continuation;
        await using (var first = await _client.SubscribeToShardAsync(
            consumer.ConsumerArn, _shardId, new KinesisSubscriptionStart(KinesisShardIteratorType.TrimHorizon), cts.Token))
        {
            (_, continuation) = await ReadRecordsAsync(first, 4, cts.Token);
        }

        List<string> later = await PutAsync(4, 3, cts.Token);
        var position = new KinesisSubscriptionStart(KinesisShardIteratorType.AfterSequenceNumber, continuation);
        var (second, firstEvent) = await SubscribeWhenFreeAsync(consumer.ConsumerArn, position, cts.Token);
        await using var held = second;
        var (records, _) = await ReadRecordsAsync(second, 3, cts.Token, firstEvent);

        Assert.Equal(later, records.Select(r => r.SequenceNumber));
    }

    [Fact]
    public async Task A_second_subscription_to_the_same_consumer_and_shard_is_a_ResourceInUse_error()
    {
        using var cts = new CancellationTokenSource(Patience);
        var consumer = await _client.EnsureStreamConsumerActiveAsync(_streamArn, "app-d", cts.Token);
        var start = new KinesisSubscriptionStart(KinesisShardIteratorType.Latest);
        await using var holder = await _client.SubscribeToShardAsync(consumer.ConsumerArn, _shardId, start, cts.Token);
        Assert.NotNull(await holder.ReadEventAsync(cts.Token)); // the first (empty) event: the subscription is live

        var error = await Assert.ThrowsAsync<AwsServiceException>(async () =>
        {
            await using var second = await _client.SubscribeToShardAsync(consumer.ConsumerArn, _shardId, start, cts.Token);
            await second.ReadEventAsync(cts.Token);
        });

        Assert.Equal(AwsErrorKind.ResourceInUse, error.Kind);
        Assert.Equal("ResourceInUseException", error.ErrorCode);
    }

    /// <remarks>
    /// AWS ends a closed shard's subscription with an event that names the child shards; kinesis-mock 0.6.2 never does
    /// (it keeps sending empty events with ChildShards null), so a fan-out reader must also detect a parent's end as
    /// polling does (GetRecords after the continuation answers ChildShards). This pins what the emulator gives.
    /// </remarks>
    [Fact]
    public async Task A_split_parent_subscription_delivers_exactly_its_records_then_holds_at_the_last_one()
    {
        using var cts = new CancellationTokenSource(Patience);
        var consumer = await _client.EnsureStreamConsumerActiveAsync(_streamArn, "app-e", cts.Token);
        List<string> written = await PutAsync(0, 3, cts.Token);
        var middle = (BigInteger.Pow(2, 128) / 2).ToString(CultureInfo.InvariantCulture);
        await _client.SplitShardAsync(_stream, _shardId, middle, cts.Token);
        await _client.WaitForStreamActiveAsync(_stream, cts.Token);

        await using var subscription = await _client.SubscribeToShardAsync(
            consumer.ConsumerArn, _shardId, new KinesisSubscriptionStart(KinesisShardIteratorType.TrimHorizon), cts.Token);
        var (records, continuation) = await ReadRecordsAsync(subscription, 3, cts.Token);
        KinesisSubscribeToShardEvent? idle = await subscription.ReadEventAsync(cts.Token);

        Assert.Equal(written, records.Select(r => r.SequenceNumber));
        Assert.Equal(written[^1], continuation);
        Assert.NotNull(idle);
        Assert.Empty(idle.Records);
        Assert.Equal(written[^1], idle.ContinuationSequenceNumber);
    }

    private async Task<List<string>> PutAsync(int from, int count, CancellationToken cancellationToken)
    {
        var sequences = new List<string>();
        for (int i = from; i < from + count; i++)
        {
            var put = await _client.PutRecordAsync(_stream, $"key-{i % 2}", Encoding.UTF8.GetBytes($"r{i}"), cancellationToken: cancellationToken);
            sequences.Add(put.SequenceNumber);
        }

        return sequences;
    }

    private static async Task<(List<KinesisRecord> Records, string Continuation)> ReadRecordsAsync(
        KinesisShardSubscription subscription, int count, CancellationToken cancellationToken, KinesisSubscribeToShardEvent? alreadyRead = null)
    {
        var records = new List<KinesisRecord>(alreadyRead?.Records ?? []);
        string continuation = alreadyRead?.ContinuationSequenceNumber ?? string.Empty;
        while (records.Count < count)
        {
            KinesisSubscribeToShardEvent? e = await subscription.ReadEventAsync(cancellationToken);
            Assert.NotNull(e);
            records.AddRange(e.Records);
            continuation = e.ContinuationSequenceNumber ?? continuation;
        }

        Assert.Equal(count, records.Count);
        return (records, continuation);
    }

    /// <summary>Right after a subscription ends the service may still count it as active: retry while it says so.</summary>
    private async Task<(KinesisShardSubscription Subscription, KinesisSubscribeToShardEvent? First)> SubscribeWhenFreeAsync(string consumerArn, KinesisSubscriptionStart position, CancellationToken cancellationToken)
    {
        while (true)
        {
            var subscription = await _client.SubscribeToShardAsync(consumerArn, _shardId, position, cancellationToken);
            try
            {
                // The first event tells whether the service accepted the subscription; it is handed back with it.
                return (subscription, await subscription.ReadEventAsync(cancellationToken));
            }
            catch (AwsServiceException ex) when (ex.Kind == AwsErrorKind.ResourceInUse)
            {
                await subscription.DisposeAsync();
                await Task.Delay(TimeSpan.FromMilliseconds(200), cancellationToken);
            }
        }
    }
}
