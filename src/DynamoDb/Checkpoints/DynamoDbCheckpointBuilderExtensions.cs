using Amazon.DynamoDBv2;
using StreamLanes.Aws;

namespace StreamLanes.DynamoDb;

/// <summary>Keeps a consumer's checkpoints and key state in a DynamoDB table.</summary>
public static class DynamoDbCheckpointBuilderExtensions
{
    /// <summary>
    /// Keeps the consumer's checkpoints, with each shard's key state, in a DynamoDB table instead of the data directory:
    /// for an SQS consumer with <c>FailureMode</c> <c>ParkKey</c> its parked message groups, for an in-memory or custom
    /// source its checkpoints. Every save is conditional on the item's last revision this process read or wrote, so a
    /// second process writing the same consumer and shard fails the older writer's save instead of being overwritten.
    /// The table (key <c>pk</c>, sort key <c>sk</c>, both strings; on-demand billing) is created on first use when
    /// missing. The client is the <see cref="IAmazonDynamoDB"/> registered in the service provider when there is one,
    /// else one built from <paramref name="aws"/>.
    /// </summary>
    /// <param name="builder">The consumer.</param>
    /// <param name="tableName">The table; several consumers may share one (items are keyed by consumer, stream and shard).</param>
    /// <param name="aws">Region, endpoint and credentials of a client built here. Default: the default region and credentials.</param>
    /// <param name="createTableIfMissing">Whether the first use creates a missing table. Default <see langword="true"/>.</param>
    /// <returns>The builder.</returns>
    public static StreamConsumerBuilder UseDynamoDbCheckpoints(this StreamConsumerBuilder builder, string tableName, AwsClientOptions? aws = null, bool createTableIfMissing = true)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrWhiteSpace(tableName);
        return builder.UseCheckpointStore(services =>
        {
            AwsClientOptions options = aws ?? new AwsClientOptions();
            options.Validate();
            var (client, owned) = AwsServiceClients.Resolve<IAmazonDynamoDB>(services, () => LeaseSetup.CreateDynamoDbClient(options, options.ServiceUrl));
            return new DynamoDbCheckpointStore(client, tableName, createTableIfMissing, owned, SourceSetup.Time(services));
        });
    }
}
