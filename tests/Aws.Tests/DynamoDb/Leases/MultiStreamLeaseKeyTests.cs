using Amazon.DynamoDBv2.Model;
using StreamLanes.Checkpointing;
using StreamLanes.DynamoDb;

namespace StreamLanes.Checkpointing.Tests.Leases;

/// <summary>KCL's multi-stream lease key and item (MultiStreamLease, DynamoDBMultiStreamLeaseSerializer).</summary>
public sealed class MultiStreamLeaseKeyTests
{
    [Theory]
    [InlineData("000000000000:orders:1700000000:shardId-000000000001", "000000000000:orders:1700000000", "shardId-000000000001")]
    [InlineData("123456789012:my.stream_2-x:1:shardId-000000000000", "123456789012:my.stream_2-x:1", "shardId-000000000000")]
    public void A_multi_stream_key_splits_into_kcls_stream_identifier_and_shard_id(string key, string streamId, string shardId)
    {
        Assert.True(MultiStreamLeaseKey.TryParse(key, out string? parsedStream, out string? parsedShard));
        Assert.Equal(streamId, parsedStream);
        Assert.Equal(shardId, parsedShard);
        Assert.Equal(key, MultiStreamLeaseKey.Of(MultiStreamLeaseKey.StreamId(streamId.Split(':')[0], streamId.Split(':')[1], long.Parse(streamId.Split(':')[2], System.Globalization.CultureInfo.InvariantCulture)), shardId));
    }

    [Theory]
    [InlineData("shardId-000000000001")]
    [InlineData("acct:orders:1700000000:shardId-000000000001")]
    [InlineData("000000000000:orders:0:shardId-000000000001")]
    [InlineData("000000000000::1700000000:shardId-000000000001")]
    [InlineData("000000000000:orders:1700000000:")]
    public void Single_stream_keys_and_malformed_keys_are_not_multi_stream_keys(string key)
    {
        Assert.False(MultiStreamLeaseKey.TryParse(key, out _, out _));
    }

    [Fact]
    public void A_new_multi_stream_lease_is_written_as_kcl_writes_it_and_read_back_with_lease_keys_for_its_parents()
    {
        const string StreamId = "000000000000:orders:1700000000";
        var lease = new Lease
        {
            LeaseKey = $"{StreamId}:shardId-000000000003",
            Checkpoint = Lease.TrimHorizon,
            ParentShardIds = [$"{StreamId}:shardId-000000000001", $"{StreamId}:shardId-000000000002"],
            StartingHashKey = "0",
            EndingHashKey = "99",
        };

        Dictionary<string, AttributeValue> item = LeaseItem.ForNewLease(lease);
        Assert.Equal(StreamId, item["streamName"].S);
        Assert.Equal("shardId-000000000003", item["shardId"].S);
        Assert.Equal(["shardId-000000000001", "shardId-000000000002"], item["parentShardId"].SS.Order());

        Lease read = LeaseItem.ToLease(item);
        Assert.Equal(lease.LeaseKey, read.LeaseKey);
        Assert.Equal(lease.ParentShardIds, read.ParentShardIds.Order());
    }

    [Fact]
    public void A_kcl_multi_stream_item_with_bare_children_is_read_with_lease_keys()
    {
        var item = new Dictionary<string, AttributeValue>
        {
            ["leaseKey"] = new() { S = "000000000000:orders:1700000000:shardId-000000000001" },
            ["leaseCounter"] = new() { N = "3" },
            ["checkpoint"] = new() { S = "SHARD_END" },
            ["childShardIds"] = new() { SS = ["shardId-000000000002", "shardId-000000000003"] },
            ["streamName"] = new() { S = "000000000000:orders:1700000000" },
            ["shardId"] = new() { S = "shardId-000000000001" },
        };

        Lease lease = LeaseItem.ToLease(item);
        Assert.Equal(["000000000000:orders:1700000000:shardId-000000000002", "000000000000:orders:1700000000:shardId-000000000003"], lease.ChildShardIds.Order());
        Assert.Equal(["shardId-000000000002"], MultiStreamLeaseKey.ToStored(lease.LeaseKey, ["000000000000:orders:1700000000:shardId-000000000002"]));
    }

    [Fact]
    public void A_single_stream_lease_keeps_bare_shard_ids_and_gets_no_multi_stream_attributes()
    {
        Dictionary<string, AttributeValue> item = LeaseItem.ForNewLease(new Lease { LeaseKey = "shardId-000000000003", Checkpoint = Lease.TrimHorizon, ParentShardIds = ["shardId-000000000001"] });
        Assert.False(item.ContainsKey("streamName"));
        Assert.False(item.ContainsKey("shardId"));
        Assert.Equal(["shardId-000000000001"], LeaseItem.ToLease(item).ParentShardIds);
    }
}
