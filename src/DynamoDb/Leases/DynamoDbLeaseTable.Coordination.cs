using System.Globalization;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using StreamLanes.Checkpointing;

namespace StreamLanes.DynamoDb;

/// <summary>
/// The leader protocol's items and index. The leader lock and the workers' heartbeats are items of the lease table
/// itself (keys under <c>~streamlanes/</c>, marked with <c>entityType</c>, which lease reads skip), so the leader's one
/// scan sees leases and workers together and no other table or permission is needed; the owner index is KCL 3.x's.
/// </summary>
internal sealed partial class DynamoDbLeaseTable
{
    /// <summary>The leader lock's key: a tilde sorts after every shard id and cannot start a multi-stream key.</summary>
    public const string LeaderKey = "~streamlanes/leader";

    /// <summary>The prefix of a worker heartbeat's key; the worker id follows.</summary>
    public const string WorkerKeyPrefix = "~streamlanes/worker/";

    private const string LeaderEntity = "STREAMLANES_LEADER";
    private const string WorkerEntity = "STREAMLANES_WORKER";
    private const string LeaderOwner = "leaderOwner";
    private const string LeaderIncarnation = "leaderIncarnation";
    private const string LeaderCounter = "leaderCounter";
    private const string WorkerId = "workerId";
    private const string WorkerIncarnation = "workerIncarnation";
    private const string HeartbeatCounter = "heartbeatCounter";

    // The owner index is built once per table: polled often at first, then every 5 s.
    private static readonly BackoffOptions OwnerIndexPoll = BackoffOptions.Of(TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(5));

    public async Task EnsureOwnerIndexAsync(CancellationToken cancellationToken)
    {
        DescribeTableResponse described = await dynamoDb.DescribeTableAsync(tableName, cancellationToken).ConfigureAwait(false);
        GlobalSecondaryIndexDescription? index = OwnerIndexOf(described);
        if (index?.IndexStatus == IndexStatus.ACTIVE)
        {
            return;
        }

        if (index is null)
        {
            try
            {
                // A table on provisioned capacity gives the index its own capacity, as KCL 3.x does.
                ProvisionedThroughput? provisioned = described.Table.BillingModeSummary?.BillingMode == BillingMode.PAY_PER_REQUEST
                    || described.Table.ProvisionedThroughput is not { ReadCapacityUnits: > 0 } throughput
                    ? null
                    : new ProvisionedThroughput(throughput.ReadCapacityUnits, throughput.WriteCapacityUnits);
                await dynamoDb.UpdateTableAsync(new UpdateTableRequest
                {
                    TableName = tableName,
                    AttributeDefinitions = [new AttributeDefinition(LeaseItem.Key, ScalarAttributeType.S), new AttributeDefinition(LeaseItem.Owner, ScalarAttributeType.S)],
                    GlobalSecondaryIndexUpdates = [new GlobalSecondaryIndexUpdate { Create = CreateOwnerIndex(provisioned) }],
                }, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is ResourceInUseException or LimitExceededException or AmazonDynamoDBException { ErrorCode: "ValidationException" })
            {
                // Another worker is creating it (or the table is being updated): wait below for it to appear.
            }
        }

        // A one-time event (an index on a table of a few thousand items builds in minutes): the caller's token bounds it.
        await ResiliencePipelines.PollUntilAsync(
            "StreamLanes.LeaseTable.OwnerIndexPoll",
            OwnerIndexPoll,
            TimeProvider.System,
            ct => dynamoDb.DescribeTableAsync(tableName, ct),
            static polled => OwnerIndexOf(polled)?.IndexStatus == IndexStatus.ACTIVE,
            cancellationToken).ConfigureAwait(false);
    }

    private static GlobalSecondaryIndexDescription? OwnerIndexOf(DescribeTableResponse described)
        => described.Table.GlobalSecondaryIndexes?.FirstOrDefault(gsi => gsi.IndexName == LeaseItem.OwnerIndex);

    public async Task<LeaseTableSnapshot> ScanAsync(CancellationToken cancellationToken)
    {
        var leases = new List<Lease>();
        var workers = new List<WorkerHeartbeat>();
        Dictionary<string, AttributeValue>? start = null;
        do
        {
            // Eventually consistent: half the read units of a consistent scan; the leader's decisions are fenced by
            // conditional writes, so a view a moment old costs at most a refused write.
            ScanResponse page = await dynamoDb.ScanAsync(new ScanRequest
            {
                TableName = tableName,
                ConsistentRead = false,
                ExclusiveStartKey = start,
                ReturnConsumedCapacity = ReturnConsumedCapacity.TOTAL,
            }, cancellationToken).ConfigureAwait(false);
            foreach (Dictionary<string, AttributeValue> item in page.Items ?? [])
            {
                if (LeaseItem.IsLease(item))
                {
                    // A multi-stream source's dropped streams stay out of the leader's view too: it never assigns them.
                    if (includes is null || includes(item[LeaseItem.Key].S))
                    {
                        leases.Add(LeaseItem.ToLease(item));
                    }
                }
                else if (Entity(item) == WorkerEntity && item.TryGetValue(WorkerId, out AttributeValue? id) && id.S is { } workerId)
                {
                    workers.Add(new WorkerHeartbeat(workerId, Text(item, WorkerIncarnation), ReadNumber(item, HeartbeatCounter)));
                }
            }

            start = page.LastEvaluatedKey is { Count: > 0 } next ? next : null;
        }
        while (start is not null);

        return new LeaseTableSnapshot(leases, workers);
    }

    public async Task<IReadOnlyList<string>> ListOwnedKeysAsync(string owner, CancellationToken cancellationToken)
    {
        var keys = new List<string>();
        Dictionary<string, AttributeValue>? start = null;
        do
        {
            QueryResponse page = await dynamoDb.QueryAsync(new QueryRequest
            {
                TableName = tableName,
                IndexName = LeaseItem.OwnerIndex,
                KeyConditionExpression = "leaseOwner = :owner",
                ExpressionAttributeValues = new() { [":owner"] = new() { S = owner } },
                ExclusiveStartKey = start,
                ReturnConsumedCapacity = ReturnConsumedCapacity.TOTAL,
            }, cancellationToken).ConfigureAwait(false);
            keys.AddRange((page.Items ?? []).Select(item => item[LeaseItem.Key].S));
            start = page.LastEvaluatedKey is { Count: > 0 } next ? next : null;
        }
        while (start is not null);

        return keys;
    }

    public async Task<Lease> RequestHandoffAsync(Lease seen, string to, CancellationToken cancellationToken)
    {
        try
        {
            await dynamoDb.UpdateItemAsync(new UpdateItemRequest
            {
                TableName = tableName,
                Key = LeaseKey(seen.LeaseKey),
                UpdateExpression = "SET handoffTo = :to",

                // On the owner alone: a request grants nothing, and the owner's renewals keep moving the counter.
                ConditionExpression = "attribute_exists(leaseKey) AND leaseOwner = :owner",
                ExpressionAttributeValues = new() { [":to"] = new() { S = to }, [":owner"] = new() { S = seen.Owner } },
                ReturnConsumedCapacity = ReturnConsumedCapacity.TOTAL,
            }, cancellationToken).ConfigureAwait(false);
            return seen with { HandoffTo = to };
        }
        catch (ConditionalCheckFailedException)
        {
            throw new LeaseLostException($"Lease '{seen.LeaseKey}' in table '{tableName}' is no longer owned by '{seen.Owner}': no hand-off requested.");
        }
    }

    public async Task<Lease> HandOverAsync(Lease held, string to, CancellationToken cancellationToken)
    {
        try
        {
            // The latest request wins: the leader may have redirected the lease since the owner saw the first one.
            UpdateItemResponse response = await dynamoDb.UpdateItemAsync(new UpdateItemRequest
            {
                TableName = tableName,
                Key = LeaseKey(held.LeaseKey),
                UpdateExpression = "SET leaseOwner = if_not_exists(handoffTo, :to), ownerIncarnation = :assigned, leaseCounter = leaseCounter + :one,"
                    + " ownerSwitchesSinceCheckpoint = ownerSwitchesSinceCheckpoint + :one REMOVE handoffTo",
                ConditionExpression = "attribute_exists(leaseKey) AND leaseOwner = :owner AND leaseCounter = :counter",
                ExpressionAttributeValues = new()
                {
                    [":to"] = new() { S = to },
                    [":assigned"] = new() { S = Lease.Assigned },
                    [":owner"] = new() { S = held.Owner },
                    [":counter"] = Number(held.Counter),
                    [":one"] = Number(1),
                },
                ReturnValues = ReturnValue.ALL_NEW,
                ReturnConsumedCapacity = ReturnConsumedCapacity.TOTAL,
            }, cancellationToken).ConfigureAwait(false);
            return LeaseItem.ToLease(response.Attributes);
        }
        catch (ConditionalCheckFailedException)
        {
            throw new LeaseLostException($"Lease '{held.LeaseKey}' in table '{tableName}' changed since counter {held.Counter} (owner '{held.Owner}'): another worker holds or took it.");
        }
    }

    public Task HeartbeatAsync(string workerId, string incarnation, CancellationToken cancellationToken)
        => dynamoDb.UpdateItemAsync(new UpdateItemRequest
        {
            TableName = tableName,
            Key = LeaseKey(WorkerKeyPrefix + workerId),
            UpdateExpression = "SET entityType = :entity, workerId = :id, workerIncarnation = :incarnation ADD heartbeatCounter :one",
            ExpressionAttributeValues = new() { [":entity"] = new() { S = WorkerEntity }, [":id"] = new() { S = workerId }, [":incarnation"] = new() { S = incarnation }, [":one"] = Number(1) },
            ReturnConsumedCapacity = ReturnConsumedCapacity.TOTAL,
        }, cancellationToken);

    public Task RemoveHeartbeatAsync(string workerId, CancellationToken cancellationToken)
        => dynamoDb.DeleteItemAsync(new DeleteItemRequest
        {
            TableName = tableName,
            Key = LeaseKey(WorkerKeyPrefix + workerId),
            ReturnConsumedCapacity = ReturnConsumedCapacity.TOTAL,
        }, cancellationToken);

    public async Task<LeaderLock?> GetLeaderAsync(CancellationToken cancellationToken)
    {
        GetItemResponse response = await dynamoDb.GetItemAsync(new GetItemRequest
        {
            TableName = tableName,
            Key = LeaseKey(LeaderKey),

            // Half the units of a consistent read, every renew interval on every worker: a stale answer shows an older
            // counter, which at worst delays an election or makes the conditional take of the lock fail.
            ConsistentRead = false,
            ReturnConsumedCapacity = ReturnConsumedCapacity.TOTAL,
        }, cancellationToken).ConfigureAwait(false);
        return response.Item is { Count: > 0 } item && Text(item, LeaderOwner) is { } owner
            ? new LeaderLock(owner, Text(item, LeaderIncarnation) ?? "", ReadNumber(item, LeaderCounter))
            : null;
    }

    public async Task<LeaderLock> AcquireLeaderAsync(LeaderLock? seen, string owner, string incarnation, CancellationToken cancellationToken)
    {
        long counter = (seen?.Counter ?? 0) + 1;
        var values = new Dictionary<string, AttributeValue>
        {
            [":entity"] = new() { S = LeaderEntity },
            [":owner"] = new() { S = owner },
            [":incarnation"] = new() { S = incarnation },
            [":next"] = Number(counter),
        };
        if (seen is not null)
        {
            values[":counter"] = Number(seen.Counter);
            values[":seenOwner"] = new() { S = seen.Owner };
        }

        await UpdateLeaderAsync(
            "SET entityType = :entity, leaderOwner = :owner, leaderIncarnation = :incarnation, leaderCounter = :next",
            seen is null ? "attribute_not_exists(leaderOwner)" : "leaderOwner = :seenOwner AND leaderCounter = :counter",
            values,
            cancellationToken).ConfigureAwait(false);
        return new LeaderLock(owner, incarnation, counter);
    }

    public async Task<LeaderLock> RenewLeaderAsync(LeaderLock held, CancellationToken cancellationToken)
    {
        await UpdateLeaderAsync(
            "SET leaderCounter = :next",
            "leaderOwner = :owner AND leaderIncarnation = :incarnation AND leaderCounter = :counter",
            LockValues(held, withNext: true),
            cancellationToken).ConfigureAwait(false);
        return held with { Counter = held.Counter + 1 };
    }

    public async Task ReleaseLeaderAsync(LeaderLock held, CancellationToken cancellationToken)
    {
        try
        {
            await dynamoDb.DeleteItemAsync(new DeleteItemRequest
            {
                TableName = tableName,
                Key = LeaseKey(LeaderKey),
                ConditionExpression = "leaderOwner = :owner AND leaderIncarnation = :incarnation AND leaderCounter = :counter",
                ExpressionAttributeValues = LockValues(held, withNext: false),
                ReturnConsumedCapacity = ReturnConsumedCapacity.TOTAL,
            }, cancellationToken).ConfigureAwait(false);
        }
        catch (ConditionalCheckFailedException)
        {
            throw new LeaseLostException($"The leader lock in table '{tableName}' is no longer held by '{held.Owner}'.");
        }
    }

    private static GlobalSecondaryIndex OwnerIndex(ProvisionedThroughput? provisioned) => new()
    {
        IndexName = LeaseItem.OwnerIndex,
        KeySchema = [new KeySchemaElement(LeaseItem.Owner, KeyType.HASH), new KeySchemaElement(LeaseItem.Key, KeyType.RANGE)],
        Projection = new Projection { ProjectionType = ProjectionType.KEYS_ONLY },
        ProvisionedThroughput = provisioned,
    };

    private static CreateGlobalSecondaryIndexAction CreateOwnerIndex(ProvisionedThroughput? provisioned)
    {
        GlobalSecondaryIndex index = OwnerIndex(provisioned);
        return new CreateGlobalSecondaryIndexAction
        {
            IndexName = index.IndexName,
            KeySchema = index.KeySchema,
            Projection = index.Projection,
            ProvisionedThroughput = index.ProvisionedThroughput,
        };
    }

    private static Dictionary<string, AttributeValue> LockValues(LeaderLock held, bool withNext)
    {
        var values = new Dictionary<string, AttributeValue>
        {
            [":owner"] = new() { S = held.Owner },
            [":incarnation"] = new() { S = held.Incarnation },
            [":counter"] = Number(held.Counter),
        };
        if (withNext)
        {
            values[":next"] = Number(held.Counter + 1);
        }

        return values;
    }

    private async Task UpdateLeaderAsync(string update, string condition, Dictionary<string, AttributeValue> values, CancellationToken cancellationToken)
    {
        try
        {
            await dynamoDb.UpdateItemAsync(new UpdateItemRequest
            {
                TableName = tableName,
                Key = LeaseKey(LeaderKey),
                UpdateExpression = update,
                ConditionExpression = condition,
                ExpressionAttributeValues = values,
                ReturnConsumedCapacity = ReturnConsumedCapacity.TOTAL,
            }, cancellationToken).ConfigureAwait(false);
        }
        catch (ConditionalCheckFailedException)
        {
            throw new LeaseLostException($"The leader lock in table '{tableName}' changed since it was read.");
        }
    }

    private static Dictionary<string, AttributeValue> LeaseKey(string key) => new() { [LeaseItem.Key] = new() { S = key } };

    private static string? Entity(Dictionary<string, AttributeValue> item) => Text(item, LeaseItem.EntityType);

    private static string? Text(Dictionary<string, AttributeValue> item, string name) => item.TryGetValue(name, out AttributeValue? value) ? value.S : null;

    private static long ReadNumber(Dictionary<string, AttributeValue> item, string name)
        => item.TryGetValue(name, out AttributeValue? value) && value.N is { } n ? long.Parse(n, CultureInfo.InvariantCulture) : 0;
}
