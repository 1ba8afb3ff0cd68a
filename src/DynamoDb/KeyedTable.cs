using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;

namespace StreamLanes.DynamoDb;

/// <summary>
/// A table keyed by a string partition key <c>pk</c> and a string sort key <c>sk</c> (on-demand billing), created on
/// first use when it is missing and waited for until it is ACTIVE: the layout the dead-letter sink and the checkpoint
/// store share.
/// </summary>
internal sealed class KeyedTable : IDisposable
{
    // A new table turns ACTIVE within seconds.
    private static readonly BackoffOptions ActivePoll = BackoffOptions.Of(TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(1));

    private readonly IAmazonDynamoDB _dynamoDb;
    private readonly string _activePollName;
    private readonly TimeProvider _timeProvider;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private volatile bool _ready;

    /// <param name="dynamoDb">The client.</param>
    /// <param name="name">The table's name.</param>
    /// <param name="createIfMissing">Whether the first use creates the table; when false it is taken as ready.</param>
    /// <param name="activePollName">The resilience pipeline's name for the ACTIVE wait (it names the part in logs and telemetry).</param>
    /// <param name="timeProvider">The clock of the ACTIVE wait.</param>
    public KeyedTable(IAmazonDynamoDB dynamoDb, string name, bool createIfMissing, string activePollName, TimeProvider timeProvider)
    {
        _dynamoDb = dynamoDb;
        Name = name;
        _activePollName = activePollName;
        _timeProvider = timeProvider;
        _ready = !createIfMissing;
    }

    /// <summary>The table's name.</summary>
    public string Name { get; }

    /// <summary>Creates the table unless it exists (once per instance), and waits until it is active.</summary>
    public async Task EnsureAsync(CancellationToken cancellationToken)
    {
        if (_ready)
        {
            return;
        }

        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_ready)
            {
                return;
            }

            try
            {
                await _dynamoDb.CreateTableAsync(
                    new CreateTableRequest
                    {
                        TableName = Name,
                        BillingMode = BillingMode.PAY_PER_REQUEST,
                        KeySchema = [new KeySchemaElement("pk", KeyType.HASH), new KeySchemaElement("sk", KeyType.RANGE)],
                        AttributeDefinitions = [new AttributeDefinition("pk", ScalarAttributeType.S), new AttributeDefinition("sk", ScalarAttributeType.S)],
                    },
                    cancellationToken).ConfigureAwait(false);
            }
            catch (ResourceInUseException)
            {
                // Another process created it first.
            }

            await ResiliencePipelines.PollUntilAsync(
                _activePollName,
                ActivePoll,
                _timeProvider,
                ct => _dynamoDb.DescribeTableAsync(Name, ct),
                static table => table.Table.TableStatus == TableStatus.ACTIVE,
                cancellationToken).ConfigureAwait(false);
            _ready = true;
        }
        finally
        {
            _gate.Release();
        }
    }

    public void Dispose() => _gate.Dispose();
}
