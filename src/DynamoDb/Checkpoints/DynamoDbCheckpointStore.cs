using System.Collections.Concurrent;
using System.Globalization;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using StreamLanes.Checkpointing;

namespace StreamLanes.DynamoDb;

/// <summary>
/// A checkpoint store in a DynamoDB table: one item per consumer, stream and shard, holding the position and the
/// shard's encoded key state (an SQS <c>ParkKey</c> consumer's parked message groups, for instance).
/// </summary>
/// <remarks>
/// Item: <c>pk</c> (S) the consumer, <c>sk</c> (S) the stream's length, the stream and the shard
/// (<c>&lt;length&gt;:&lt;stream&gt;:&lt;shard&gt;</c>, so that no two streams' shards share an item), <c>sequenceNumber</c> (S) and
/// <c>subSequenceNumber</c> (N) when a position was saved, <c>keyState</c> (B) when one was saved, <c>revision</c> (N)
/// and <c>writer</c> (S). Every save is conditional on the revision this store last read or wrote: a second process
/// writing the same shard makes the older writer's next save fail with a <see cref="CheckpointFencedException"/>
/// instead of silently replacing newer state.
/// </remarks>
internal sealed class DynamoDbCheckpointStore : ICheckpointStore, IKeyStateCheckpointStore, IDisposable
{
    private readonly IAmazonDynamoDB _dynamoDb;
    private readonly bool _ownsClient;
    private readonly KeyedTable _table;

    // The revision of each item as this store last read or wrote it (0: the item did not exist).
    private readonly ConcurrentDictionary<CheckpointKey, long> _revisions = new();
    private readonly string _writer = Guid.NewGuid().ToString("N");

    /// <summary>Creates a store over <paramref name="tableName"/>.</summary>
    /// <param name="dynamoDb">The client.</param>
    /// <param name="tableName">The table.</param>
    /// <param name="createTableIfMissing">Whether the first use creates the table (on-demand billing) when it is missing.</param>
    /// <param name="ownsClient">Whether <see cref="Dispose"/> disposes the client.</param>
    /// <param name="timeProvider">The clock of the wait for a new table.</param>
    public DynamoDbCheckpointStore(IAmazonDynamoDB dynamoDb, string tableName, bool createTableIfMissing, bool ownsClient, TimeProvider timeProvider)
    {
        ArgumentNullException.ThrowIfNull(dynamoDb);
        ArgumentException.ThrowIfNullOrWhiteSpace(tableName);
        _dynamoDb = dynamoDb;
        _ownsClient = ownsClient;
        _table = new KeyedTable(dynamoDb, tableName, createTableIfMissing, "StreamLanes.CheckpointTable.ActivePoll", timeProvider);
    }

    /// <summary>The table's name.</summary>
    public string TableName => _table.Name;

    public async ValueTask<SequenceNumber> GetAsync(CheckpointKey key, CancellationToken cancellationToken)
        => (await ReadAsync(key, cancellationToken).ConfigureAwait(false)).Position;

    public ValueTask SaveAsync(CheckpointKey key, SequenceNumber position, CancellationToken cancellationToken)
        => WriteAsync(key, position, keyState: null, cancellationToken);

    public ValueTask<(SequenceNumber Position, byte[]? KeyState)> GetWithKeyStateAsync(CheckpointKey key, CancellationToken cancellationToken)
        => ReadAsync(key, cancellationToken);

    public ValueTask SaveAsync(CheckpointKey key, SequenceNumber position, byte[] keyState, CancellationToken cancellationToken)
        => WriteAsync(key, position, keyState ?? [], cancellationToken);

    public void Dispose()
    {
        _table.Dispose();
        if (_ownsClient)
        {
            _dynamoDb.Dispose();
        }
    }

    /// <summary>Where a key's state is kept, for error messages.</summary>
    public string LocationOf(CheckpointKey key) => $"DynamoDB table '{TableName}', item pk '{key.Consumer}', sk '{SortKey(key)}'";

    private static string SortKey(CheckpointKey key) => string.Create(CultureInfo.InvariantCulture, $"{key.Stream.Length}:{key.Stream}:{key.Shard}");

    private static Dictionary<string, AttributeValue> KeyOf(CheckpointKey key) => new() { ["pk"] = new(key.Consumer), ["sk"] = new(SortKey(key)) };

    private async ValueTask<(SequenceNumber Position, byte[]? KeyState)> ReadAsync(CheckpointKey key, CancellationToken cancellationToken)
    {
        await _table.EnsureAsync(cancellationToken).ConfigureAwait(false);
        GetItemResponse response = await _dynamoDb.GetItemAsync(
            new GetItemRequest { TableName = TableName, Key = KeyOf(key), ConsistentRead = true },
            cancellationToken).ConfigureAwait(false);
        (SequenceNumber position, byte[]? state, long revision, _) = Parse(key, response.Item);
        _revisions[key] = revision;
        return (position, state);
    }

    // keyState: null keeps the saved one, empty removes it.
    private async ValueTask WriteAsync(CheckpointKey key, SequenceNumber position, byte[]? keyState, CancellationToken cancellationToken)
    {
        await _table.EnsureAsync(cancellationToken).ConfigureAwait(false);
        long expected = _revisions.TryGetValue(key, out long known) ? known : 0;
        for (int attempt = 0; ; attempt++)
        {
            try
            {
                await _dynamoDb.UpdateItemAsync(Update(key, position, keyState, expected), cancellationToken).ConfigureAwait(false);
                _revisions[key] = expected + 1;
                return;
            }
            catch (ConditionalCheckFailedException ex)
            {
                // A write of ours that timed out may have landed (its revision and our writer id are there): go on from
                // it. Anything else is another process's newer state, which must not be overwritten.
                GetItemResponse current = await _dynamoDb.GetItemAsync(
                    new GetItemRequest { TableName = TableName, Key = KeyOf(key), ConsistentRead = true },
                    cancellationToken).ConfigureAwait(false);
                (_, _, long revision, string? writer) = Parse(key, current.Item);
                if (attempt == 0 && writer == _writer && revision == expected + 1)
                {
                    expected = revision;
                    continue;
                }

                throw new CheckpointFencedException(
                    $"The checkpoint in {LocationOf(key)} was written by another process (revision {revision}, this process expected " +
                    $"{expected}); it is not overwritten. Run one consumer process per consumer name and stream, or restart this one to read the newer state.",
                    ex);
            }
        }
    }

    private UpdateItemRequest Update(CheckpointKey key, SequenceNumber position, byte[]? keyState, long expected)
    {
        var values = new Dictionary<string, AttributeValue>
        {
            [":next"] = new() { N = (expected + 1).ToString(CultureInfo.InvariantCulture) },
            [":writer"] = new(_writer),
        };
        var set = new List<string> { "revision = :next", "writer = :writer" };
        var remove = new List<string>();
        if (position.IsNone)
        {
            remove.Add("sequenceNumber");
            remove.Add("subSequenceNumber");
        }
        else
        {
            set.Add("sequenceNumber = :seq");
            set.Add("subSequenceNumber = :sub");
            values[":seq"] = new(position.Value);
            values[":sub"] = new() { N = position.SubSequence.ToString(CultureInfo.InvariantCulture) };
        }

        if (keyState is { Length: > 0 })
        {
            set.Add("keyState = :state");
            values[":state"] = new() { B = new MemoryStream(keyState) };
        }
        else if (keyState is not null)
        {
            remove.Add("keyState");
        }

        string condition;
        if (expected == 0)
        {
            condition = "attribute_not_exists(pk)";
        }
        else
        {
            condition = "revision = :expected";
            values[":expected"] = new() { N = expected.ToString(CultureInfo.InvariantCulture) };
        }

        return new UpdateItemRequest
        {
            TableName = TableName,
            Key = KeyOf(key),
            UpdateExpression = "SET " + string.Join(", ", set) + (remove.Count > 0 ? " REMOVE " + string.Join(", ", remove) : ""),
            ConditionExpression = condition,
            ExpressionAttributeValues = values,
        };
    }

    /// <exception cref="InvalidDataException">The item holds a value the store never writes; the message names the item and field.</exception>
    private (SequenceNumber Position, byte[]? KeyState, long Revision, string? Writer) Parse(CheckpointKey key, Dictionary<string, AttributeValue>? item)
    {
        if (item is not { Count: > 0 })
        {
            return (SequenceNumber.None, null, 0, null);
        }

        if (!item.TryGetValue("revision", out AttributeValue? revisionValue) || !long.TryParse(revisionValue.N, NumberStyles.None, CultureInfo.InvariantCulture, out long revision) || revision < 1)
        {
            throw Invalid(key, "revision", "must be a whole number of at least 1");
        }

        SequenceNumber position = SequenceNumber.None;
        if (item.TryGetValue("sequenceNumber", out AttributeValue? sequence))
        {
            string? value = sequence.S;
            if (string.IsNullOrEmpty(value) || !(value == SequenceNumber.ShardEnd.Value || value.All(char.IsAsciiDigit)))
            {
                throw Invalid(key, "sequenceNumber", "must be a string of decimal digits or SHARD_END");
            }

            if (!item.TryGetValue("subSequenceNumber", out AttributeValue? sub) || !long.TryParse(sub.N, NumberStyles.None, CultureInfo.InvariantCulture, out long subSequence))
            {
                throw Invalid(key, "subSequenceNumber", "must be a whole number from 0 to 9223372036854775807");
            }

            position = SequenceNumber.Parse(value, subSequence);
        }

        byte[]? state = null;
        if (item.TryGetValue("keyState", out AttributeValue? stateValue))
        {
            state = stateValue.B?.ToArray();
            if (state is not { Length: > 0 })
            {
                throw Invalid(key, "keyState", "must be non-empty binary");
            }
        }

        return (position, state, revision, item.TryGetValue("writer", out AttributeValue? writer) ? writer.S : null);
    }

    private InvalidDataException Invalid(CheckpointKey key, string field, string rule)
        => new($"The checkpoint in {LocationOf(key)} is not valid: {field} {rule}. The consumer stops rather than re-process or skip records: correct the item, or delete it to start the shard over.");
}
