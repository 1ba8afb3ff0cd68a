using System.Globalization;
using System.Numerics;
using System.Runtime.CompilerServices;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using StreamLanes.S3;
using StreamLanes.Sinks;

namespace StreamLanes.DynamoDb;

/// <summary>
/// Writes dead letters to a DynamoDB table, one item per dead letter. The partition key <c>pk</c> is
/// <c>&lt;consumer&gt;#&lt;partition key&gt;</c> and the sort key <c>sk</c> the zero-padded sequence number, sub-sequence
/// number and shard, so a consumer's dead letters of one partition key are listed in sequence order by one Query.
/// </summary>
/// <remarks>
/// A write is a PutItem of the dead letter's own key: a retried write overwrites the same item rather than adding a
/// second one. The item holds the envelope's JSON (attribute <c>envelope</c>, binary) and, for filtering without
/// parsing, <c>consumer</c>, <c>partitionKey</c>, <c>stream</c>, <c>shard</c>, <c>sequenceNumber</c>, <c>reason</c>,
/// <c>exceptionType</c> and <c>deadLetteredAt</c>. An envelope over <see cref="DynamoDbDeadLetterSinkOptions.MaxItemBytes"/>
/// goes to S3 through the <see cref="S3ClaimCheck"/>, and the item keeps a pointer in <c>claimCheck</c>.
/// </remarks>
public sealed class DynamoDbDeadLetterSink : IDeadLetterSink, IDeadLetterStore, IDisposable
{
    private readonly IAmazonDynamoDB _dynamoDb;
    private readonly DynamoDbDeadLetterSinkOptions _options;
    private readonly S3ClaimCheck? _claimCheck;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger _logger;
    private readonly SinkTelemetry _telemetry;
    private readonly KeyedTable _table;

    /// <summary>Creates a sink.</summary>
    /// <param name="dynamoDb">The DynamoDB client; owned by the caller.</param>
    /// <param name="options">The table and limits; validated and copied.</param>
    /// <param name="claimCheck">Where oversized dead letters go; none when <see langword="null"/> (then they fail to write).</param>
    /// <param name="timeProvider">The clock for metrics and table creation; <see cref="TimeProvider.System"/> when <see langword="null"/>.</param>
    /// <param name="logger">For write failures; none when <see langword="null"/>.</param>
    public DynamoDbDeadLetterSink(IAmazonDynamoDB dynamoDb, DynamoDbDeadLetterSinkOptions options, S3ClaimCheck? claimCheck = null, TimeProvider? timeProvider = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(dynamoDb);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _dynamoDb = dynamoDb;
        _options = options.Clone();
        _claimCheck = claimCheck;
        _timeProvider = timeProvider ?? TimeProvider.System;
        _logger = logger ?? NullLogger.Instance;
        _telemetry = new SinkTelemetry("dynamodb", _options.TableName, _timeProvider);
        _table = new KeyedTable(dynamoDb, _options.TableName, _options.CreateTableIfMissing, "StreamLanes.DeadLetterTable.ActivePoll", _timeProvider);
    }

    /// <summary>The table's name.</summary>
    public string TableName => _options.TableName;

    /// <inheritdoc/>
    public async ValueTask WriteAsync(DeadLetterEnvelope envelope, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        cancellationToken.ThrowIfCancellationRequested();
        _telemetry.Begin(envelope);
        try
        {
            await PutAsync(envelope, cancellationToken).ConfigureAwait(false);
            _telemetry.Succeeded(envelope);
        }
        catch (Exception ex)
        {
            bool cancelled = ex is OperationCanceledException && cancellationToken.IsCancellationRequested;
            _telemetry.Failed(envelope, cancelled);
            if (!cancelled)
            {
                SinkLog.WriteFailed(_logger, "dynamodb", SafeText.Escape(envelope.Id), SafeText.Escape(ex.Message, SafeText.MessageMaxLength));
            }

            throw;
        }
    }

    /// <summary>Creates the table unless it exists, and waits until it is active.</summary>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns>A task that completes when the table can be written.</returns>
    public Task EnsureTableAsync(CancellationToken cancellationToken = default) => _table.EnsureAsync(cancellationToken);

    /// <inheritdoc/>
    public async IAsyncEnumerable<StoredDeadLetter> ReadAsync(DeadLetterFilter filter, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(filter);
        await EnsureTableAsync(cancellationToken).ConfigureAwait(false);
        Dictionary<string, AttributeValue>? startKey = null;
        do
        {
            List<Dictionary<string, AttributeValue>> items;
            if (filter.Consumer is not null && filter.PartitionKey is not null)
            {
                // One key's dead letters live in one partition, in sequence order.
                QueryResponse page = await _dynamoDb.QueryAsync(
                    new QueryRequest
                    {
                        TableName = _options.TableName,
                        KeyConditionExpression = "pk = :pk",
                        ExpressionAttributeValues = new Dictionary<string, AttributeValue> { [":pk"] = new(PartitionValue(filter.Consumer, filter.PartitionKey)) },
                        ExclusiveStartKey = startKey,
                        ConsistentRead = true,
                    },
                    cancellationToken).ConfigureAwait(false);
                items = page.Items ?? [];
                startKey = page.LastEvaluatedKey is { Count: > 0 } next ? next : null;
            }
            else
            {
                ScanResponse page = await _dynamoDb.ScanAsync(
                    new ScanRequest { TableName = _options.TableName, ExclusiveStartKey = startKey, ConsistentRead = true },
                    cancellationToken).ConfigureAwait(false);
                items = page.Items ?? [];
                startKey = page.LastEvaluatedKey is { Count: > 0 } next ? next : null;
            }

            foreach (Dictionary<string, AttributeValue> item in items)
            {
                if (!PreFilter(item, filter))
                {
                    continue;
                }

                StoredDeadLetter stored = await DecodeAsync(item, cancellationToken).ConfigureAwait(false);
                if (filter.Matches(stored.Envelope))
                {
                    yield return stored;
                }
            }
        }
        while (startKey is not null);
    }

    /// <inheritdoc/>
    public async ValueTask DeleteAsync(StoredDeadLetter deadLetter, CancellationToken cancellationToken = default)
    {
        DynamoDbHandle handle = HandleOf(deadLetter);
        await _dynamoDb.DeleteItemAsync(
            new DeleteItemRequest
            {
                TableName = _options.TableName,
                Key = new Dictionary<string, AttributeValue> { ["pk"] = new(handle.Pk), ["sk"] = new(handle.Sk) },
            },
            cancellationToken).ConfigureAwait(false);
        if (handle.Pointer is not null && _claimCheck is not null)
        {
            await _claimCheck.DeleteAsync(handle.Pointer, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <inheritdoc/>
    public async ValueTask<StoredDeadLetter> ReplaceAsync(StoredDeadLetter deadLetter, DeadLetterEnvelope replacement, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(replacement);
        DynamoDbHandle old = HandleOf(deadLetter);
        DynamoDbHandle written = await PutAsync(replacement, cancellationToken).ConfigureAwait(false);
        if (written.Pk != old.Pk || written.Sk != old.Sk)
        {
            await DeleteAsync(deadLetter, cancellationToken).ConfigureAwait(false);
        }
        else if (old.Pointer is not null && _claimCheck is not null && old.Pointer.Key != written.Pointer?.Key)
        {
            await _claimCheck.DeleteAsync(old.Pointer, cancellationToken).ConfigureAwait(false);
        }

        return new StoredDeadLetter(replacement, written);
    }

    /// <inheritdoc/>
    public ValueTask ReleaseAsync(IReadOnlyCollection<StoredDeadLetter> deadLetters, CancellationToken cancellationToken = default) => ValueTask.CompletedTask;

    /// <inheritdoc/>
    public void Dispose()
    {
        _telemetry.Dispose();
        _table.Dispose();
        if (OwnsClient)
        {
            _dynamoDb.Dispose();
        }
    }

    /// <summary>Whether the sink disposes its DynamoDB client (one <c>UseDynamoDbDeadLetters</c> created).</summary>
    internal bool OwnsClient { get; init; }

    internal static string PartitionValue(string consumer, string partitionKey) => $"{consumer}#{partitionKey}";

    internal static string SortValue(DeadLetterEnvelope envelope)
    {
        // Kinesis sequence numbers are decimals of up to 128 bits (39 digits): padding to 40 makes string order numeric.
        string sequence = BigInteger.TryParse(envelope.SequenceNumber, NumberStyles.None, CultureInfo.InvariantCulture, out BigInteger number) && number >= 0
            ? number.ToString("D40", CultureInfo.InvariantCulture)
            : envelope.SequenceNumber;
        return string.Create(CultureInfo.InvariantCulture, $"{sequence}#{envelope.SubSequenceNumber:D20}#{envelope.Shard}");
    }

    private async Task<DynamoDbHandle> PutAsync(DeadLetterEnvelope envelope, CancellationToken cancellationToken)
    {
        await EnsureTableAsync(cancellationToken).ConfigureAwait(false);
        byte[] json = DeadLetterEnvelopeSerializer.Serialize(envelope);
        string pk = PartitionValue(envelope.Consumer, envelope.PartitionKey);
        string sk = SortValue(envelope);
        var item = new Dictionary<string, AttributeValue>
        {
            ["pk"] = new(pk),
            ["sk"] = new(sk),
            ["consumer"] = new(envelope.Consumer),
            ["stream"] = new(envelope.Stream),
            ["shard"] = new(envelope.Shard),
            ["sequenceNumber"] = new(envelope.SequenceNumber),
            ["reason"] = new(envelope.Reason.ToString()),
            ["deadLetteredAt"] = new(envelope.DeadLetteredAt.ToString("O", CultureInfo.InvariantCulture)),
        };

        // DynamoDB refuses empty strings only in key attributes; the partition key attribute is kept even when empty.
        item["partitionKey"] = new AttributeValue { S = envelope.PartitionKey };
        if (envelope.Attempts.Count > 0)
        {
            item["exceptionType"] = new(envelope.Attempts[^1].ExceptionType);
        }

        ClaimCheckPointer? pointer = null;
        if (json.Length > _options.MaxItemBytes)
        {
            if (_claimCheck is null)
            {
                throw new InvalidOperationException(
                    $"The dead letter {envelope.Id} is {json.Length} bytes, over DynamoDbDeadLetterSinkOptions.MaxItemBytes ({_options.MaxItemBytes}), and the DynamoDB sink has no S3 claim check to store it: configure one.");
            }

            pointer = await _claimCheck.StoreAsync(envelope, json, cancellationToken).ConfigureAwait(false);
            SinkLog.ClaimChecked(_logger, "dynamodb", SafeText.Escape(envelope.Id), json.Length, _options.MaxItemBytes, SafeText.Escape(pointer.Key, SafeText.MessageMaxLength));
            item["claimCheck"] = new(pointer.ToJson());
        }
        else
        {
            item["envelope"] = new AttributeValue { B = new MemoryStream(json, writable: false) };
        }

        await _dynamoDb.PutItemAsync(new PutItemRequest { TableName = _options.TableName, Item = item }, cancellationToken).ConfigureAwait(false);
        return new DynamoDbHandle(pk, sk, pointer);
    }

    private static bool PreFilter(Dictionary<string, AttributeValue> item, DeadLetterFilter filter)
        => (filter.Consumer is null || (item.TryGetValue("consumer", out AttributeValue? c) && c.S == filter.Consumer))
            && (filter.PartitionKey is null || (item.TryGetValue("partitionKey", out AttributeValue? k) && k.S == filter.PartitionKey))
            && (filter.Reason is null || (item.TryGetValue("reason", out AttributeValue? r) && r.S == filter.Reason.ToString()));

    private async Task<StoredDeadLetter> DecodeAsync(Dictionary<string, AttributeValue> item, CancellationToken cancellationToken)
    {
        string pk = item["pk"].S;
        string sk = item["sk"].S;
        if (item.TryGetValue("claimCheck", out AttributeValue? pointerValue) && pointerValue.S is { } pointerJson)
        {
            ClaimCheckPointer pointer = ClaimCheckPointer.FromJson(pointerJson);
            S3ClaimCheck claimCheck = _claimCheck ?? throw new InvalidOperationException(
                $"Item {pk}/{sk} holds a pointer to s3://{pointer.Bucket}/{pointer.Key}; give the DynamoDB sink an S3 claim check to read it.");
            DeadLetterEnvelope loaded = await claimCheck.LoadAsync(pointer, cancellationToken).ConfigureAwait(false);
            return new StoredDeadLetter(loaded, new DynamoDbHandle(pk, sk, pointer));
        }

        MemoryStream body = item["envelope"].B;
        DeadLetterEnvelope envelope = DeadLetterEnvelopeSerializer.Deserialize(body.ToArray());
        return new StoredDeadLetter(envelope, new DynamoDbHandle(pk, sk, null));
    }

    private static DynamoDbHandle HandleOf(StoredDeadLetter deadLetter)
    {
        ArgumentNullException.ThrowIfNull(deadLetter);
        return deadLetter.Handle as DynamoDbHandle
            ?? throw new ArgumentException("The dead letter was not read from a DynamoDB sink.", nameof(deadLetter));
    }

    private sealed record DynamoDbHandle(string Pk, string Sk, ClaimCheckPointer? Pointer);
}
