using System.Globalization;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;

namespace StreamLanes.Checkpointing;

/// <summary>
/// The lease table's reads and conditional writes. Every write that changes a lease increments <c>leaseCounter</c>
/// and is conditional on the counter (and owner) the writer last saw, so a worker acting on a stale view fails
/// instead of overwriting (KCL's protocol).
/// </summary>
internal sealed class DynamoDbLeaseTable(IAmazonDynamoDB dynamoDb, string tableName)
{
    private const string KeyAttribute = "leaseKey";
    private const string OwnerAttribute = "leaseOwner";
    private const string CounterAttribute = "leaseCounter";
    private const string CheckpointAttribute = "checkpoint";
    private const string SubSequenceAttribute = "checkpointSubSequenceNumber";
    private const string OwnerSwitchesAttribute = "ownerSwitchesSinceCheckpoint";
    private const string ParentsAttribute = "parentShardIds";

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
                    AttributeDefinitions = [new AttributeDefinition(KeyAttribute, ScalarAttributeType.S)],
                    KeySchema = [new KeySchemaElement(KeyAttribute, KeyType.HASH)],
                    BillingMode = BillingMode.PAY_PER_REQUEST,
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

        for (int wait = 0; ; wait++)
        {
            DescribeTableResponse described = await dynamoDb.DescribeTableAsync(tableName, cancellationToken).ConfigureAwait(false);
            if (described.Table.TableStatus == TableStatus.ACTIVE)
            {
                return;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(1000, 50 * (wait + 1))), cancellationToken).ConfigureAwait(false);
        }
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
            }, cancellationToken).ConfigureAwait(false);
            if (page.Items is not null)
            {
                leases.AddRange(page.Items.Select(FromItem));
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
            Key = new Dictionary<string, AttributeValue> { [KeyAttribute] = new() { S = leaseKey } },
            ConsistentRead = true,
        }, cancellationToken).ConfigureAwait(false);
        return response.Item is { Count: > 0 } item ? FromItem(item) : null;
    }

    /// <summary>Creates a lease for a new shard unless one exists.</summary>
    /// <returns>Whether this call created it.</returns>
    public async Task<bool> CreateIfAbsentAsync(Lease lease, CancellationToken cancellationToken)
    {
        var item = new Dictionary<string, AttributeValue>
        {
            [KeyAttribute] = new() { S = lease.LeaseKey },
            [CounterAttribute] = Number(0),
            [CheckpointAttribute] = new() { S = lease.Checkpoint },
            [SubSequenceAttribute] = Number(lease.CheckpointSubSequence),
            [OwnerSwitchesAttribute] = Number(0),
        };
        if (lease.ParentShardIds.Count > 0)
        {
            item[ParentsAttribute] = new AttributeValue { SS = [.. lease.ParentShardIds] };
        }

        try
        {
            await dynamoDb.PutItemAsync(new PutItemRequest
            {
                TableName = tableName,
                Item = item,
                ConditionExpression = "attribute_not_exists(leaseKey)",
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
            cancellationToken);

    /// <summary>Takes a lease (expired, unowned, or stolen), provided nobody wrote it since it was read.</summary>
    public Task<Lease> TakeAsync(Lease seen, string newOwner, CancellationToken cancellationToken)
    {
        bool switching = seen.Owner != newOwner;
        return UpdateAsync(
            seen,
            switching
                ? "SET leaseOwner = :newOwner, leaseCounter = leaseCounter + :one, ownerSwitchesSinceCheckpoint = ownerSwitchesSinceCheckpoint + :one"
                : "SET leaseOwner = :newOwner, leaseCounter = leaseCounter + :one",
            "leaseCounter = :counter",
            new() { [":newOwner"] = new() { S = newOwner }, [":counter"] = Number(seen.Counter) },
            lease => lease with { Owner = newOwner, Counter = seen.Counter + 1, OwnerSwitchesSinceCheckpoint = seen.OwnerSwitchesSinceCheckpoint + (switching ? 1 : 0) },
            cancellationToken);
    }

    /// <summary>Writes the checkpoint, fenced: only while this worker holds the lease at the counter it last wrote.</summary>
    public Task<Lease> CheckpointAsync(Lease held, SequenceNumber position, CancellationToken cancellationToken)
        => UpdateAsync(
            held,
            "SET checkpoint = :checkpoint, checkpointSubSequenceNumber = :sub, ownerSwitchesSinceCheckpoint = :zero, leaseCounter = leaseCounter + :one",
            "leaseOwner = :owner AND leaseCounter = :counter",
            new()
            {
                [":owner"] = new() { S = held.Owner },
                [":counter"] = Number(held.Counter),
                [":checkpoint"] = new() { S = position.Value },
                [":sub"] = Number(position.SubSequence),
                [":zero"] = Number(0),
            },
            lease => lease with { Counter = held.Counter + 1, Checkpoint = position.Value!, CheckpointSubSequence = position.SubSequence, OwnerSwitchesSinceCheckpoint = 0 },
            cancellationToken);

    /// <summary>Gives a lease up so another worker can take it at once (no expiry wait).</summary>
    public Task<Lease> ReleaseAsync(Lease held, CancellationToken cancellationToken)
        => UpdateAsync(
            held,
            "REMOVE leaseOwner SET leaseCounter = leaseCounter + :one",
            "leaseOwner = :owner AND leaseCounter = :counter",
            new() { [":owner"] = new() { S = held.Owner }, [":counter"] = Number(held.Counter) },
            lease => lease with { Owner = null, Counter = held.Counter + 1 },
            cancellationToken);

    private async Task<Lease> UpdateAsync(
        Lease lease,
        string update,
        string condition,
        Dictionary<string, AttributeValue> values,
        Func<Lease, Lease> applied,
        CancellationToken cancellationToken)
    {
        values[":one"] = Number(1);
        try
        {
            await dynamoDb.UpdateItemAsync(new UpdateItemRequest
            {
                TableName = tableName,
                Key = new Dictionary<string, AttributeValue> { [KeyAttribute] = new() { S = lease.LeaseKey } },
                UpdateExpression = update,
                ConditionExpression = $"attribute_exists(leaseKey) AND {condition}",
                ExpressionAttributeValues = values,
            }, cancellationToken).ConfigureAwait(false);
            return applied(lease);
        }
        catch (ConditionalCheckFailedException)
        {
            throw new LeaseLostException($"Lease '{lease.LeaseKey}' in table '{tableName}' changed since counter {lease.Counter} (owner '{lease.Owner}'): another worker holds or took it.");
        }
    }

    private static AttributeValue Number(long value) => new() { N = value.ToString(CultureInfo.InvariantCulture) };

    private static long ReadNumber(Dictionary<string, AttributeValue> item, string name)
        => item.TryGetValue(name, out AttributeValue? value) && value.N is { } n ? long.Parse(n, CultureInfo.InvariantCulture) : 0;

    private static Lease FromItem(Dictionary<string, AttributeValue> item) => new()
    {
        LeaseKey = item[KeyAttribute].S,
        Owner = item.TryGetValue(OwnerAttribute, out AttributeValue? owner) ? owner.S : null,
        Counter = ReadNumber(item, CounterAttribute),
        Checkpoint = item.TryGetValue(CheckpointAttribute, out AttributeValue? checkpoint) && checkpoint.S is { } s ? s : Lease.TrimHorizon,
        CheckpointSubSequence = ReadNumber(item, SubSequenceAttribute),
        OwnerSwitchesSinceCheckpoint = ReadNumber(item, OwnerSwitchesAttribute),
        ParentShardIds = item.TryGetValue(ParentsAttribute, out AttributeValue? parents) && parents.SS is { } ids ? ids : [],
    };
}
