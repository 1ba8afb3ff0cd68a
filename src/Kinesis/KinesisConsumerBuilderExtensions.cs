using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using StreamLanes.Aws;
using StreamLanes.DynamoDb;

namespace StreamLanes.Kinesis;

/// <summary>Reads a consumer's records from a Kinesis stream, sharing its shards with other workers through DynamoDB leases.</summary>
public static class KinesisConsumerBuilderExtensions
{
    /// <summary>
    /// Reads from a Kinesis stream. Options are bound from <c>StreamConsumers:&lt;name&gt;:Kinesis</c>, then
    /// <paramref name="configure"/>; the lease table defaults to <c>streamlanes-leases-&lt;consumer&gt;</c> and is
    /// created on first use. Invalid options fail start-up with a message naming each option and its rule; a missing
    /// stream fails start-up naming the stream, region and endpoint.
    /// </summary>
    /// <param name="builder">The consumer.</param>
    /// <param name="streamName">The stream's name or ARN.</param>
    /// <param name="configure">Sets Kinesis, lease and AWS options in code.</param>
    /// <returns>The builder.</returns>
    public static StreamConsumerBuilder FromKinesis(this StreamConsumerBuilder builder, string streamName, Action<KinesisSourceOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrWhiteSpace(streamName);
        string consumer = builder.Name;
        return builder.FromSource(services =>
        {
            var defaults = new KinesisSourceOptions { StreamName = streamName };
            defaults.Leases.TableName = $"streamlanes-leases-{consumer}";
            KinesisSourceOptions options = SourceSetup.Bind(services, consumer, "Kinesis", defaults, configure, static (o, prefix) => o.Validate(prefix));
            options.Aws = AwsServiceClients.Effective(services, options.Aws);
            TimeProvider time = SourceSetup.Time(services);
            ILoggerFactory loggers = SourceSetup.Loggers(services);
            var (dynamoDb, ownsDynamoDb) = LeaseSetup.ResolveDynamoDbClient(services, options.Aws, options.DynamoDbServiceUrl);
            return new KinesisSource(
                options,
                new KinesisClient(options.Aws, options.HttpClient, loggers, time),
                dynamoDb,
                time,
                loggers.CreateLogger($"StreamLanes.Consumer.{consumer}.Kinesis"))
            {
                OwnsDynamoDb = ownsDynamoDb,
            };
        });
    }
}
