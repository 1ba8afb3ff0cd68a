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
    [System.Diagnostics.CodeAnalysis.SuppressMessage("ApiDesign", "RS0027", Justification = "The multi-stream overloads differ in the second parameter's type (a string here, a list or a function there), so no call can bind to another overload and this shipped signature is unchanged.")]
    public static StreamConsumerBuilder FromKinesis(this StreamConsumerBuilder builder, string streamName, Action<KinesisSourceOptions>? configure = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(streamName);
        return FromKinesis(builder, defaults => defaults.StreamName = streamName, configure);
    }

    /// <summary>
    /// Reads several Kinesis streams with one consumer and one lease table (KCL's multi-stream mode; lease keys
    /// <c>account-id:stream-name:creation-epoch:shard-id</c>). Each stream is read as <see cref="FromKinesis(StreamConsumerBuilder, string, Action{KinesisSourceOptions})"/>
    /// reads one; <see cref="StreamRecord.StreamName"/> says which stream a record came from. The streams can also be
    /// bound from <c>StreamConsumers:&lt;name&gt;:Kinesis:Streams</c>. An empty list, a stream named twice or a missing
    /// stream fails start-up.
    /// </summary>
    /// <param name="builder">The consumer.</param>
    /// <param name="streams">The streams (name or ARN), each with its optional starting position and KCL stream identifier parts.</param>
    /// <param name="configure">Sets Kinesis, lease and AWS options in code; null for none.</param>
    /// <returns>The builder.</returns>
    public static StreamConsumerBuilder FromKinesis(this StreamConsumerBuilder builder, IEnumerable<KinesisStreamOptions> streams, Action<KinesisSourceOptions>? configure)
    {
        ArgumentNullException.ThrowIfNull(streams);
        KinesisStreamOptions[] fixedStreams = [.. streams];
        return FromKinesis(builder, defaults =>
        {
            defaults.MultiStream = true;
            foreach (KinesisStreamOptions stream in fixedStreams)
            {
                defaults.Streams.Add(stream);
            }
        }, configure);
    }

    /// <summary>
    /// Reads several Kinesis streams by name or ARN (see <see cref="FromKinesis(StreamConsumerBuilder, IEnumerable{KinesisStreamOptions}, Action{KinesisSourceOptions})"/>).
    /// </summary>
    /// <param name="builder">The consumer.</param>
    /// <param name="streamNames">The streams' names or ARNs.</param>
    /// <param name="configure">Sets Kinesis, lease and AWS options in code; null for none.</param>
    /// <returns>The builder.</returns>
    public static StreamConsumerBuilder FromKinesis(this StreamConsumerBuilder builder, IEnumerable<string> streamNames, Action<KinesisSourceOptions>? configure)
    {
        ArgumentNullException.ThrowIfNull(streamNames);
        return FromKinesis(builder, streamNames.Select(name => new KinesisStreamOptions { StreamName = name }), configure);
    }

    /// <summary>
    /// Reads the Kinesis streams that <paramref name="discoverStreams"/> returns, asked at start-up and every
    /// <see cref="KinesisSourceOptions.StreamDiscoveryInterval"/> (KCL's multi-stream tracker): new streams are read from
    /// then on; a dropped or deleted stream stops being read once its records in flight are finished, and its leases are
    /// deleted after <see cref="KinesisSourceOptions.FormerStreamLeaseDeletionDelay"/>.
    /// </summary>
    /// <param name="builder">The consumer.</param>
    /// <param name="discoverStreams">Returns the streams to read now.</param>
    /// <param name="configure">Sets Kinesis, lease and AWS options in code; null for none.</param>
    /// <returns>The builder.</returns>
    public static StreamConsumerBuilder FromKinesis(this StreamConsumerBuilder builder, Func<CancellationToken, Task<IReadOnlyList<KinesisStreamOptions>>> discoverStreams, Action<KinesisSourceOptions>? configure)
    {
        ArgumentNullException.ThrowIfNull(discoverStreams);
        return FromKinesis(builder, defaults =>
        {
            defaults.MultiStream = true;
            defaults.DiscoverStreams = discoverStreams;
        }, configure);
    }

    private static StreamConsumerBuilder FromKinesis(StreamConsumerBuilder builder, Action<KinesisSourceOptions> source, Action<KinesisSourceOptions>? configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        string consumer = builder.Name;
        SourceSetup.AddOptions<KinesisSourceOptions>(
            builder,
            "Kinesis",
            defaults =>
            {
                source(defaults);
                defaults.Leases.TableName = $"streamlanes-leases-{consumer}";
            },
            configure,
            static (o, prefix) => o.Validate(prefix));
        return builder.FromSource(services =>
        {
            KinesisSourceOptions options = SourceSetup.Options<KinesisSourceOptions>(services, consumer);
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
