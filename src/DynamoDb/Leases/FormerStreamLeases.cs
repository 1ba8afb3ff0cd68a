using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;

namespace StreamLanes.DynamoDb;

/// <summary>
/// The multi-stream leases of a lease table grouped by stream, and the deletion of a dropped stream's leases. Reads the
/// table directly rather than through the filtered listing the coordinator sees, which hides dropped streams.
/// </summary>
internal sealed class FormerStreamLeases(IAmazonDynamoDB dynamoDb, string tableName)
{
    /// <summary>A multi-stream lease as the clean-up sees it.</summary>
    public readonly record struct Entry(string LeaseKey, string? Owner, long Counter);

    /// <summary>Every multi-stream lease in the table, by stream identifier (eventually consistent: only used to find leftovers).</summary>
    public async Task<Dictionary<string, List<Entry>>> ListByStreamAsync(CancellationToken cancellationToken)
    {
        var byStream = new Dictionary<string, List<Entry>>(StringComparer.Ordinal);
        Dictionary<string, AttributeValue>? start = null;
        do
        {
            ScanResponse page = await dynamoDb.ScanAsync(new ScanRequest
            {
                TableName = tableName,
                ProjectionExpression = "#key, #owner, #counter",
                ExpressionAttributeNames = new Dictionary<string, string> { ["#key"] = LeaseItem.Key, ["#owner"] = LeaseItem.Owner, ["#counter"] = LeaseItem.Counter },
                ExclusiveStartKey = start,
            }, cancellationToken).ConfigureAwait(false);
            foreach (Dictionary<string, AttributeValue> item in page.Items ?? [])
            {
                if (item.TryGetValue(LeaseItem.Key, out AttributeValue? key) && key.S is { } leaseKey && MultiStreamLeaseKey.StreamIdOf(leaseKey) is { } streamId)
                {
                    if (!byStream.TryGetValue(streamId, out List<Entry>? entries))
                    {
                        byStream[streamId] = entries = [];
                    }

                    long counter = item.TryGetValue(LeaseItem.Counter, out AttributeValue? n) && n.N is { } text ? long.Parse(text, System.Globalization.CultureInfo.InvariantCulture) : 0;
                    entries.Add(new Entry(leaseKey, item.TryGetValue(LeaseItem.Owner, out AttributeValue? owner) ? owner.S : null, counter));
                }
            }

            start = page.LastEvaluatedKey is { Count: > 0 } next ? next : null;
        }
        while (start is not null);

        return byStream;
    }

    /// <summary>
    /// Deletes a lease unless a worker owns it: a worker that still reads the stream (it has not seen the stream dropped
    /// yet, or is finishing its records) keeps its lease until it gives it up. With <paramref name="expiredCounter"/>, a
    /// lease whose owner stopped renewing it (seen at that counter for longer than the failover time) goes too.
    /// </summary>
    /// <returns>Whether the lease is gone.</returns>
    public async Task<bool> DeleteIfUnownedAsync(string leaseKey, long? expiredCounter, CancellationToken cancellationToken)
    {
        var values = expiredCounter is long counter
            ? new Dictionary<string, AttributeValue> { [":counter"] = LeaseItem.Number(counter) }
            : null;
        try
        {
            await dynamoDb.DeleteItemAsync(new DeleteItemRequest
            {
                TableName = tableName,
                Key = new Dictionary<string, AttributeValue> { [LeaseItem.Key] = new() { S = leaseKey } },
                ConditionExpression = values is null ? "attribute_not_exists(#owner)" : "attribute_not_exists(#owner) OR #counter = :counter",
                ExpressionAttributeNames = values is null
                    ? new Dictionary<string, string> { ["#owner"] = LeaseItem.Owner }
                    : new Dictionary<string, string> { ["#owner"] = LeaseItem.Owner, ["#counter"] = LeaseItem.Counter },
                ExpressionAttributeValues = values,
            }, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (ConditionalCheckFailedException)
        {
            return false;
        }
    }
}
