using System.Globalization;
using System.Numerics;
using System.Text;
using StreamLanes.TestInfrastructure;

namespace StreamLanes.Aws.Tests;

[Collection(EmulatorCollections.Kinesis)]
public sealed class KinesisIntegrationTests(KinesisEmulatorFixture emulator) : IAsyncLifetime
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);
    private readonly KinesisClient _client = emulator.CreateKinesisClient();
    private readonly string _stream = EmulatorFixture.UniqueName("sl-kinesis");

    public async Task InitializeAsync()
    {
        using var cts = new CancellationTokenSource(Patience);
        await _client.CreateStreamAsync(_stream, 2, cts.Token);
        await _client.WaitForStreamActiveAsync(_stream, cts.Token);
    }

    public async Task DisposeAsync()
    {
        try
        {
            await _client.DeleteStreamAsync(_stream);
        }
        finally
        {
            _client.Dispose();
        }
    }

    [Fact]
    public async Task Created_stream_is_active_with_its_shards()
    {
        var summary = await _client.DescribeStreamSummaryAsync(_stream);

        Assert.True(summary.IsActive);
        Assert.Equal(_stream, summary.StreamName);
        Assert.Equal(2, summary.OpenShardCount);
        Assert.StartsWith("arn:aws:kinesis:", summary.StreamArn, StringComparison.Ordinal);

        // The ARN addresses the stream as well as its name does.
        var byArn = await _client.DescribeStreamSummaryAsync(summary.StreamArn);
        Assert.Equal(_stream, byArn.StreamName);
    }

    [Fact]
    public async Task ListShards_pages_with_a_small_MaxResults()
    {
        var firstPage = await _client.ListShardsAsync(new KinesisListShardsRequest { StreamName = _stream, MaxResults = 1 });
        Assert.Single(firstPage.Shards);
        Assert.False(string.IsNullOrEmpty(firstPage.NextToken));

        var all = await _client.ListAllShardsAsync(_stream, pageSize: 1);

        Assert.Equal(2, all.Count);
        Assert.Equal(2, all.Select(s => s.ShardId).Distinct().Count());
        Assert.All(all, s => Assert.False(s.IsClosed));
        Assert.Equal("0", all[0].HashKeyRange.StartingHashKey);
    }

    [Fact]
    public async Task Put_records_and_read_them_back_from_every_shard()
    {
        var before = DateTimeOffset.UtcNow.AddMinutes(-1);
        var entries = Enumerable.Range(0, 20)
            .Select(i => new KinesisPutRecordsEntry { PartitionKey = $"key-{i % 5}", Data = Encoding.UTF8.GetBytes($"payload-{i}") })
            .ToList();

        var put = await _client.PutRecordsAsync(_stream, entries);
        Assert.Equal(0, put.FailedRecordCount);
        Assert.Equal(20, put.Records.Count);
        Assert.All(put.Records, r => Assert.False(r.Failed));

        var single = await _client.PutRecordAsync(_stream, "key-single", "single"u8.ToArray());
        Assert.StartsWith("shardId-", single.ShardId, StringComparison.Ordinal);

        var read = new List<KinesisRecord>();
        foreach (var shard in await _client.ListAllShardsAsync(_stream))
        {
            read.AddRange(await ReadShardAsync(shard.ShardId, KinesisShardIteratorType.TrimHorizon, expectAtLeast: 0));
        }

        Assert.Equal(21, read.Count);
        var payloads = read.Select(r => Encoding.UTF8.GetString(r.Data.Span)).ToHashSet();
        Assert.Contains("payload-0", payloads);
        Assert.Contains("payload-19", payloads);
        Assert.Contains("single", payloads);
        Assert.All(read, r => Assert.True(r.ApproximateArrivalTimestamp > before));

        // Within a partition key, sequence numbers follow the write order.
        var key0 = read.Where(r => r.PartitionKey == "key-0").ToList();
        Assert.Equal(["payload-0", "payload-5", "payload-10", "payload-15"], key0.Select(r => Encoding.UTF8.GetString(r.Data.Span)));
        Assert.True(key0.Select(r => BigInteger.Parse(r.SequenceNumber, CultureInfo.InvariantCulture)).SequenceEqual(
            key0.Select(r => BigInteger.Parse(r.SequenceNumber, CultureInfo.InvariantCulture)).Order()));
    }

    [Fact]
    public async Task Iterators_start_where_asked()
    {
        var shardId = "shardId-000000000000";
        var hashKeyInShard0 = "0";
        var written = new List<KinesisPutRecordResponse>();
        for (var i = 0; i < 3; i++)
        {
            written.Add(await _client.PutRecordAsync(_stream, $"k{i}", Encoding.UTF8.GetBytes($"r{i}"), explicitHashKey: hashKeyInShard0));
        }

        Assert.All(written, w => Assert.Equal(shardId, w.ShardId));

        var at = await ReadShardAsync(shardId, KinesisShardIteratorType.AtSequenceNumber, written[1].SequenceNumber, expectAtLeast: 2);
        Assert.Equal(["r1", "r2"], at.Select(r => Encoding.UTF8.GetString(r.Data.Span)));

        var after = await ReadShardAsync(shardId, KinesisShardIteratorType.AfterSequenceNumber, written[1].SequenceNumber, expectAtLeast: 1);
        Assert.Equal(["r2"], after.Select(r => Encoding.UTF8.GetString(r.Data.Span)));

        var latestIterator = await _client.GetShardIteratorAsync(_stream, shardId, KinesisShardIteratorType.Latest);
        var latest = await _client.GetRecordsAsync(latestIterator);
        Assert.Empty(latest.Records);
        Assert.NotNull(latest.NextShardIterator);

        var fromTime = await ReadShardAsync(
            shardId, KinesisShardIteratorType.AtTimestamp, timestamp: DateTimeOffset.UtcNow.AddMinutes(-5), expectAtLeast: 3);
        Assert.Equal(["r0", "r1", "r2"], fromTime.Select(r => Encoding.UTF8.GetString(r.Data.Span)));
    }

    [Fact]
    public async Task Split_shard_closes_the_parent_and_reports_its_children()
    {
        var parent = (await _client.ListAllShardsAsync(_stream))[0];
        await _client.PutRecordAsync(_stream, "before-split", "before"u8.ToArray(), explicitHashKey: parent.HashKeyRange.StartingHashKey);
        var start = BigInteger.Parse(parent.HashKeyRange.StartingHashKey, CultureInfo.InvariantCulture);
        var end = BigInteger.Parse(parent.HashKeyRange.EndingHashKey, CultureInfo.InvariantCulture);
        var middle = ((start + end) / 2).ToString(CultureInfo.InvariantCulture);

        using var cts = new CancellationTokenSource(Patience);
        await _client.SplitShardAsync(_stream, parent.ShardId, middle, cts.Token);
        await _client.WaitForStreamActiveAsync(_stream, cts.Token);

        var shards = await _client.ListAllShardsAsync(_stream, pageSize: 2, cancellationToken: cts.Token);
        Assert.Equal(4, shards.Count);
        var closedParent = Assert.Single(shards, s => s.ShardId == parent.ShardId);
        Assert.True(closedParent.IsClosed);
        var children = shards.Where(s => s.ParentShardId == parent.ShardId).ToList();
        Assert.Equal(2, children.Count);
        Assert.Contains(children, c => c.HashKeyRange.StartingHashKey == middle);

        // Reading the closed parent to its end yields its records, then no iterator and the child shards.
        var iterator = await _client.GetShardIteratorAsync(_stream, parent.ShardId, KinesisShardIteratorType.TrimHorizon, cancellationToken: cts.Token);
        var records = new List<KinesisRecord>();
        KinesisGetRecordsResponse response;
        do
        {
            response = await _client.GetRecordsAsync(iterator, limit: 100, cts.Token);
            records.AddRange(response.Records);
            iterator = response.NextShardIterator!;
        }
        while (response.NextShardIterator is not null);

        Assert.Equal("before", Encoding.UTF8.GetString(Assert.Single(records).Data.Span));
        Assert.NotNull(response.ChildShards);
        Assert.Equal(children.Select(c => c.ShardId).Order(), response.ChildShards!.Select(c => c.ShardId).Order());
        Assert.All(response.ChildShards!, c => Assert.Equal([parent.ShardId], c.ParentShards));
    }

    [Fact]
    public async Task Missing_stream_is_ResourceNotFound()
    {
        var error = await Assert.ThrowsAsync<AwsServiceException>(
            () => _client.DescribeStreamSummaryAsync(EmulatorFixture.UniqueName("missing")));

        Assert.Equal(AwsErrorKind.ResourceNotFound, error.Kind);
        Assert.Equal("Kinesis", error.Service);
        Assert.Equal("DescribeStreamSummary", error.Operation);
    }

    [Fact]
    public async Task Creating_an_existing_stream_is_ResourceInUse()
    {
        var error = await Assert.ThrowsAsync<AwsServiceException>(() => _client.CreateStreamAsync(_stream, 1));

        Assert.Equal(AwsErrorKind.ResourceInUse, error.Kind);
    }

    private async Task<List<KinesisRecord>> ReadShardAsync(
        string shardId,
        KinesisShardIteratorType type,
        string? sequenceNumber = null,
        DateTimeOffset? timestamp = null,
        int expectAtLeast = 0)
    {
        using var cts = new CancellationTokenSource(Patience);
        var iterator = await _client.GetShardIteratorAsync(_stream, shardId, type, sequenceNumber, timestamp, cts.Token);
        var records = new List<KinesisRecord>();

        // An empty response does not mean the end of an open shard; stop at the tip (MillisBehindLatest 0) once
        // enough records arrived.
        for (var calls = 0; calls < 20 && iterator is not null; calls++)
        {
            var response = await _client.GetRecordsAsync(iterator, limit: 1000, cts.Token);
            records.AddRange(response.Records);
            iterator = response.NextShardIterator;
            if (response.Records.Count == 0 && records.Count >= expectAtLeast && response.MillisBehindLatest is 0 or null)
            {
                break;
            }
        }

        return records;
    }
}
