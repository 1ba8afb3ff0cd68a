using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using StreamLanes.Aws;
using StreamLanes.DynamoDb;

namespace StreamLanes.DynamoDbStreams;

/// <summary>Reads a consumer's records from a DynamoDB table's stream, sharing its shards with other workers through DynamoDB leases.</summary>
public static class DynamoDbStreamsConsumerBuilderExtensions
{
    /// <summary>
    /// Reads the changes of a DynamoDB table from its stream. Options are bound from
    /// <c>StreamConsumers:&lt;name&gt;:DynamoDbStreams</c>, then <paramref name="configure"/>; the lease table defaults
    /// to <c>streamlanes-leases-&lt;consumer&gt;</c> and is created on first use. Each record's partition key is the
    /// item's primary key, and its payload the stream record's JSON (handle it as <see cref="DynamoDbChange"/> or
    /// <see cref="DynamoDbChange{TItem}"/>). Unless the consumer sets <c>MaxRecordAge</c>, it becomes
    /// <see cref="DynamoDbStreamsSourceOptions.DefaultMaxRecordAge"/> (23 h), below the stream's 24-hour retention.
    /// Invalid options fail start-up with a message naming each option and its rule; a missing table or stream, or a
    /// table without a stream, fails start-up naming it.
    /// </summary>
    /// <param name="builder">The consumer.</param>
    /// <param name="tableNameOrStreamArn">The table's name (its latest stream is read) or the stream's ARN.</param>
    /// <param name="configure">Sets stream, lease and AWS options in code.</param>
    /// <returns>The builder.</returns>
    public static StreamConsumerBuilder FromDynamoDbStream(this StreamConsumerBuilder builder, string tableNameOrStreamArn, Action<DynamoDbStreamsSourceOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrWhiteSpace(tableNameOrStreamArn);
        string consumer = builder.Name;

        // Post-configuration runs after configuration binding and every Configure call: only a consumer that set no
        // MaxRecordAge anywhere gets the default.
        builder.Services.PostConfigure<StreamConsumerOptions>(consumer, options => options.MaxRecordAge ??= DynamoDbStreamsSourceOptions.DefaultMaxRecordAge);
        SourceSetup.AddOptions<DynamoDbStreamsSourceOptions>(
            builder,
            "DynamoDbStreams",
            defaults =>
            {
                defaults.Stream = tableNameOrStreamArn;
                defaults.Leases.TableName = $"streamlanes-leases-{consumer}";
            },
            configure,
            static (o, prefix) => o.Validate(prefix));
        return builder.FromSource(services =>
        {
            DynamoDbStreamsSourceOptions options = SourceSetup.Options<DynamoDbStreamsSourceOptions>(services, consumer);
            options.Aws = AwsServiceClients.Effective(services, options.Aws);
            TimeProvider time = SourceSetup.Time(services);
            ILoggerFactory loggers = SourceSetup.Loggers(services);
            var (dynamoDb, ownsDynamoDb) = LeaseSetup.ResolveDynamoDbClient(services, options.Aws, options.DynamoDbServiceUrl);
            return new DynamoDbStreamsSource(
                options,
                new DynamoDbStreamsClient(options.Aws, loggerFactory: loggers, timeProvider: time),
                dynamoDb,
                time,
                loggers.CreateLogger($"StreamLanes.Consumer.{consumer}.DynamoDbStreams"))
            {
                OwnsDynamoDb = ownsDynamoDb,
            };
        });
    }
}
