using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using StreamLanes.Checkpointing;

namespace StreamLanes.DynamoDb;

/// <summary>
/// The lease table's reads and conditional writes. Every write that changes a lease increments <c>leaseCounter</c>
/// and is conditional on the counter (and owner) the writer last saw, so a worker acting on a stale view fails
/// instead of overwriting (KCL's protocol).
/// </summary>
/// <param name="dynamoDb">The DynamoDB client.</param>
/// <param name="tableName">The lease table.</param>
/// <param name="includes">
/// Which lease keys a listing shows (default: all): a multi-stream source hides the leases of streams it no longer
/// reads, so that they are never taken.
/// </param>
internal sealed partial class DynamoDbLeaseTable(IAmazonDynamoDB dynamoDb, string tableName, Func<string, bool>? includes = null) : ILeaseTable
{
    // A new table turns ACTIVE within seconds: polled often at first, then once a second.
    private static readonly BackoffOptions ActivePoll = BackoffOptions.Of(TimeSpan.FromMilliseconds(50), TimeSpan.FromSeconds(1));

    public string TableName => tableName;

    public async Task EnsureExistsAsync(bool create, CancellationToken cancellationToken)
    {
        try
        {
            DescribeTableResponse described = await dynamoDb.DescribeTableAsync(tableName, cancellationToken).ConfigureAwait(false);
            if (described.Table.TableStatus == TableStatus.ACTIVE)
            {
                return;
            }
        }
        catch (ResourceNotFoundException) when (create)
        {
            try
            {
                await dynamoDb.CreateTableAsync(new CreateTableRequest
                {
                    TableName = tableName,
                    AttributeDefinitions = [new AttributeDefinition(LeaseItem.Key, ScalarAttributeType.S), new AttributeDefinition(LeaseItem.Owner, ScalarAttributeType.S)],
                    KeySchema = [new KeySchemaElement(LeaseItem.Key, KeyType.HASH)],
                    BillingMode = BillingMode.PAY_PER_REQUEST,
                    GlobalSecondaryIndexes = [OwnerIndex(provisioned: null)],
                }, cancellationToken).ConfigureAwait(false);
            }
            catch (ResourceInUseException)
            {
                // Another worker created it first.
            }
        }
        catch (ResourceNotFoundException ex)
        {
            throw new InvalidOperationException($"The lease table '{tableName}' does not exist and CreateTableIfMissing is false.", ex);
        }

        await ResiliencePipelines.PollUntilAsync(
            "StreamLanes.LeaseTable.ActivePoll",
            ActivePoll,
            TimeProvider.System,
            ct => dynamoDb.DescribeTableAsync(tableName, ct),
            static described => described.Table.TableStatus == TableStatus.ACTIVE,
            cancellationToken).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<Lease>> ListAsync(CancellationToken cancellationToken)
    {
        var leases = new List<Lease>();
        Dictionary<string, AttributeValue>? start = null;
        do
        {
            ScanResponse page = await dynamoDb.ScanAsync(new ScanRequest
            {
                TableName = tableName,
                ConsistentRead = true,
                ExclusiveStartKey = start,
                ReturnConsumedCapacity = ReturnConsumedCapacity.TOTAL,
            }, cancellationToken).ConfigureAwait(false);
            if (page.Items is not null)
            {
                leases.AddRange(page.Items.Where(item => LeaseItem.IsLease(item) && (includes is null || includes(item[LeaseItem.Key].S))).Select(LeaseItem.ToLease));
            }

            start = page.LastEvaluatedKey is { Count: > 0 } next ? next : null;
        }
        while (start is not null);

        return leases;
    }

    public async Task<Lease?> GetAsync(string leaseKey, CancellationToken cancellationToken)
    {
        GetItemResponse response = await dynamoDb.GetItemAsync(new GetItemRequest
        {
            TableName = tableName,
            Key = new Dictionary<string, AttributeValue> { [LeaseItem.Key] = new() { S = leaseKey } },
            ConsistentRead = true,
            ReturnConsumedCapacity = ReturnConsumedCapacity.TOTAL,
        }, cancellationToken).ConfigureAwait(false);
        return response.Item is { Count: > 0 } item && LeaseItem.IsLease(item) ? LeaseItem.ToLease(item) : null;
    }

    /// <summary>Creates a lease for a new shard unless one exists.</summary>
    /// <returns>Whether this call created it.</returns>
    public async Task<bool> CreateIfAbsentAsync(Lease lease, CancellationToken cancellationToken)
    {
        Dictionary<string, AttributeValue> item = LeaseItem.ForNewLease(lease);
        try
        {
            await dynamoDb.PutItemAsync(new PutItemRequest
            {
                TableName = tableName,
                Item = item,
                ConditionExpression = "attribute_not_exists(leaseKey)",
                ReturnConsumedCapacity = ReturnConsumedCapacity.TOTAL,
            }, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (ConditionalCheckFailedException)
        {
            return false;
        }
    }

    /// <summary>Renews a held lease: bumps the counter if this worker still holds it at the counter it last wrote.</summary>
    public Task<Lease> RenewAsync(Lease held, CancellationToken cancellationToken)
        => UpdateAsync(
            held,
            "SET leaseCounter = leaseCounter + :one",
            "leaseOwner = :owner AND leaseCounter = :counter",
            new() { [":owner"] = new() { S = held.Owner }, [":counter"] = Number(held.Counter) },
            lease => lease with { Counter = held.Counter + 1 },
            cancellationToken,
            returnNew: true);

    /// <summary>
    /// Takes a lease (expired, unowned, stolen, or left by an earlier run of this worker), provided nobody wrote it
    /// since it was read. The counter bump fences whoever held it, even a live process with the same worker id.
    /// </summary>
    /// <param name="seen">The lease as last read.</param>
    /// <param name="newOwner">This worker's id.</param>
    /// <param name="incarnation">This run's incarnation (see <see cref="Lease.OwnerIncarnation"/>).</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    public Task<Lease> TakeAsync(Lease seen, string newOwner, string incarnation, CancellationToken cancellationToken)
    {
        // Like KCL: the owner-switch count moves only when another owner held it, and a KCL 3.x hand-off marker goes.
        bool switching = seen.Owner is not null && seen.Owner != newOwner;
        return UpdateAsync(
            seen,
            "SET leaseOwner = :newOwner, ownerIncarnation = :incarnation, leaseCounter = leaseCounter + :one"
                + (switching ? ", ownerSwitchesSinceCheckpoint = ownerSwitchesSinceCheckpoint + :one" : "")
                + " REMOVE checkpointOwner, handoffTo",
            "leaseCounter = :counter",
            new() { [":newOwner"] = new() { S = newOwner }, [":incarnation"] = new() { S = incarnation }, [":counter"] = Number(seen.Counter) },
            lease => lease with
            {
                Owner = newOwner,
                OwnerIncarnation = incarnation,
                Counter = seen.Counter + 1,
                OwnerSwitchesSinceCheckpoint = seen.OwnerSwitchesSinceCheckpoint + (switching ? 1 : 0),
                HandoffTo = null,
            },
            cancellationToken);
    }

    /// <summary>
    /// Writes the checkpoint, fenced: only while this worker holds the lease at the counter it last wrote. With
    /// <c>SHARD_END</c>, <paramref name="childShardIds"/> (when known) go into the same write, as KCL records them.
    /// </summary>
    public Task<Lease> CheckpointAsync(Lease held, SequenceNumber position, IReadOnlyList<string>? childShardIds, byte[]? keyState, CancellationToken cancellationToken)
    {
        if (position.IsNone)
        {
            return WriteKeyStateOnlyAsync(held, keyState, cancellationToken);
        }

        var values = new Dictionary<string, AttributeValue>
        {
            [":owner"] = new() { S = held.Owner },
            [":counter"] = Number(held.Counter),
            [":checkpoint"] = new() { S = position.Value },
            [":sub"] = Number(position.SubSequence),
            [":zero"] = Number(0),
        };
        bool children = position.IsShardEnd && childShardIds is { Count: > 0 };
        if (children)
        {
            values[":children"] = new AttributeValue { SS = MultiStreamLeaseKey.ToStored(held.LeaseKey, childShardIds!) };
        }

        // The key state rides in the same conditional update as the checkpoint: both are fenced together, and a reader
        // never sees one without the other.
        bool setKeyState = keyState is { Length: > 0 };
        if (setKeyState)
        {
            values[":keyState"] = new AttributeValue { B = new MemoryStream(keyState!, writable: false) };
        }

        // A checkpoint of ours has no pending (two-phase) part: KCL's own checkpoint clears it the same way.
        return UpdateAsync(
            held,
            "SET checkpoint = :checkpoint, checkpointSubSequenceNumber = :sub, ownerSwitchesSinceCheckpoint = :zero, leaseCounter = leaseCounter + :one"
                + (children ? ", childShardIds = :children" : "")
                + (setKeyState ? $", {LeaseItem.KeyState} = :keyState" : "")
                + " REMOVE pendingCheckpoint, pendingCheckpointSubSequenceNumber, pendingCheckpointState"
                + (keyState is { Length: 0 } ? $", {LeaseItem.KeyState}" : ""),
            "leaseOwner = :owner AND leaseCounter = :counter",
            values,
            lease => lease.Checkpointed(position, childShardIds, keyState),
            cancellationToken);
    }

    /// <summary>
    /// Before any record is complete the checkpoint keeps its initial position (TRIM_HORIZON, LATEST...), but a key may
    /// already be stuck or parked: the key state alone is written, fenced like a checkpoint.
    /// </summary>
    private Task<Lease> WriteKeyStateOnlyAsync(Lease held, byte[]? keyState, CancellationToken cancellationToken)
    {
        var values = new Dictionary<string, AttributeValue>
        {
            [":owner"] = new() { S = held.Owner },
            [":counter"] = Number(held.Counter),
        };
        bool set = keyState is { Length: > 0 };
        if (set)
        {
            values[":keyState"] = new AttributeValue { B = new MemoryStream(keyState!, writable: false) };
        }

        return UpdateAsync(
            held,
            "SET leaseCounter = leaseCounter + :one" + (set ? $", {LeaseItem.KeyState} = :keyState" : $" REMOVE {LeaseItem.KeyState}"),
            "leaseOwner = :owner AND leaseCounter = :counter",
            values,
            lease => lease with { Counter = held.Counter + 1, KeyState = set ? keyState : null },
            cancellationToken);
    }

    /// <summary>Gives a lease up so another worker can take it at once (no expiry wait).</summary>
    public Task<Lease> ReleaseAsync(Lease held, CancellationToken cancellationToken)
        => UpdateAsync(
            held,
            "REMOVE leaseOwner, ownerIncarnation, handoffTo SET leaseCounter = leaseCounter + :one",
            "leaseOwner = :owner AND leaseCounter = :counter",
            new() { [":owner"] = new() { S = held.Owner }, [":counter"] = Number(held.Counter) },
            lease => lease with { Owner = null, OwnerIncarnation = null, Counter = held.Counter + 1, HandoffTo = null },
            cancellationToken);

    private async Task<Lease> UpdateAsync(
        Lease lease,
        string update,
        string condition,
        Dictionary<string, AttributeValue> values,
        Func<Lease, Lease> applied,
        CancellationToken cancellationToken,
        bool returnNew = false)
    {
        values[":one"] = Number(1);
        try
        {
            UpdateItemResponse response = await dynamoDb.UpdateItemAsync(new UpdateItemRequest
            {
                TableName = tableName,
                Key = new Dictionary<string, AttributeValue> { [LeaseItem.Key] = new() { S = lease.LeaseKey } },
                UpdateExpression = update,
                ConditionExpression = $"attribute_exists(leaseKey) AND {condition}",
                ExpressionAttributeValues = values,
                ReturnConsumedCapacity = ReturnConsumedCapacity.TOTAL,

                // A renewal reads the lease back for free: that is how an owner learns of a hand-off request.
                ReturnValues = returnNew ? ReturnValue.ALL_NEW : ReturnValue.NONE,
            }, cancellationToken).ConfigureAwait(false);
            return returnNew && response.Attributes is { Count: > 0 } written ? LeaseItem.ToLease(written) : applied(lease);
        }
        catch (ConditionalCheckFailedException)
        {
            throw new LeaseLostException($"Lease '{lease.LeaseKey}' in table '{tableName}' changed since counter {lease.Counter} (owner '{lease.Owner}'): another worker holds or took it.");
        }
    }

    private static AttributeValue Number(long value) => LeaseItem.Number(value);
}
