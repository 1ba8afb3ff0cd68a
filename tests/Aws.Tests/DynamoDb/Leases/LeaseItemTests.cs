using Amazon.DynamoDBv2.Model;
using StreamLanes.Checkpointing;

namespace StreamLanes.Checkpointing.Tests.Leases;

/// <summary>The lease item in the Java KCL's shape (DynamoDBLeaseSerializer), and the attributes of earlier StreamLanes versions.</summary>
public sealed class LeaseItemTests
{
    [Fact]
    public void A_kcl_item_is_read_with_its_parents_children_hash_range_and_pending_checkpoint()
    {
        var item = new Dictionary<string, AttributeValue>
        {
            ["leaseKey"] = new() { S = "shardId-000000000003" },
            ["leaseOwner"] = new() { S = "kcl-worker" },
            ["leaseCounter"] = new() { N = "12" },
            ["ownerSwitchesSinceCheckpoint"] = new() { N = "2" },
            ["checkpoint"] = new() { S = "4959" },
            ["checkpointSubSequenceNumber"] = new() { N = "3" },
            ["pendingCheckpoint"] = new() { S = "4960" },
            ["pendingCheckpointSubSequenceNumber"] = new() { N = "1" },
            ["parentShardId"] = new() { SS = ["shardId-000000000001", "shardId-000000000002"] },
            ["childShardIds"] = new() { SS = ["shardId-000000000004"] },
            ["startingHashKey"] = new() { S = "0" },
            ["endingHashKey"] = new() { S = "340282366920938463463374607431768211455" },
            ["entityType"] = new() { S = "LEASE" },
            ["throughputKBps"] = new() { N = "1.5" },
        };

        Assert.True(LeaseItem.IsLease(item));
        Lease lease = LeaseItem.ToLease(item);
        Assert.Equal("kcl-worker", lease.Owner);
        Assert.Null(lease.OwnerIncarnation);
        Assert.Equal(12, lease.Counter);
        Assert.Equal(2, lease.OwnerSwitchesSinceCheckpoint);
        Assert.Equal(SequenceNumber.Parse("4959", 3), lease.Position);
        Assert.Equal("4960", lease.PendingCheckpoint);
        Assert.Equal(1, lease.PendingCheckpointSubSequence);
        Assert.Equal(["shardId-000000000001", "shardId-000000000002"], lease.ParentShardIds.Order());
        Assert.Equal(["shardId-000000000004"], lease.ChildShardIds);
        Assert.Equal("0", lease.StartingHashKey);
        Assert.Equal("340282366920938463463374607431768211455", lease.EndingHashKey);
    }

    [Fact]
    public void The_parents_of_an_earlier_streamlanes_version_are_still_read()
    {
        var item = new Dictionary<string, AttributeValue>
        {
            ["leaseKey"] = new() { S = "shardId-000000000003" },
            ["leaseCounter"] = new() { N = "0" },
            ["checkpoint"] = new() { S = "TRIM_HORIZON" },
            ["parentShardIds"] = new() { SS = ["shardId-000000000001"] },
        };

        Lease lease = LeaseItem.ToLease(item);
        Assert.Equal(["shardId-000000000001"], lease.ParentShardIds);
        Assert.True(lease.Position.IsNone);
        Assert.Null(lease.Owner);
    }

    [Fact]
    public void Kcl_3_entities_that_are_not_leases_are_recognised()
    {
        Assert.False(LeaseItem.IsLease(new() { ["leaseKey"] = new() { S = "leader" }, ["entityType"] = new() { S = "LEADER" } }));
        Assert.False(LeaseItem.IsLease(new() { ["leaseKey"] = new() { S = "w" }, ["entityType"] = new() { S = "WORKER_METRIC_STATS" } }));
        Assert.True(LeaseItem.IsLease(new() { ["leaseKey"] = new() { S = "shardId-0" } }));
    }

    [Fact]
    public void A_new_lease_is_written_with_kcls_attribute_names_and_types()
    {
        Dictionary<string, AttributeValue> item = LeaseItem.ForNewLease(new Lease
        {
            LeaseKey = "shardId-000000000003",
            Checkpoint = Lease.TrimHorizon,
            ParentShardIds = ["shardId-000000000001", "shardId-000000000002"],
            StartingHashKey = "10",
            EndingHashKey = "20",
        });

        Assert.Equal("shardId-000000000003", item["leaseKey"].S);
        Assert.Equal("0", item["leaseCounter"].N);
        Assert.Equal("TRIM_HORIZON", item["checkpoint"].S);
        Assert.Equal("0", item["checkpointSubSequenceNumber"].N);
        Assert.Equal("0", item["ownerSwitchesSinceCheckpoint"].N);
        Assert.Equal(["shardId-000000000001", "shardId-000000000002"], item["parentShardId"].SS);
        Assert.Equal(item["parentShardId"].SS, item["parentShardIds"].SS);
        Assert.Equal("10", item["startingHashKey"].S);
        Assert.Equal("20", item["endingHashKey"].S);
        Assert.False(item.ContainsKey("leaseOwner"));
        Assert.False(item.ContainsKey("childShardIds"));

        Dictionary<string, AttributeValue> original = LeaseItem.ForNewLease(new Lease { LeaseKey = "shardId-000000000000", Checkpoint = Lease.Latest });
        Assert.False(original.ContainsKey("parentShardId"));
        Assert.False(original.ContainsKey("startingHashKey"));
    }
}
