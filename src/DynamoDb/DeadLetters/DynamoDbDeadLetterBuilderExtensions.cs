using Amazon.DynamoDBv2;
using Microsoft.Extensions.Logging;
using StreamLanes.Aws;
using StreamLanes.S3;

namespace StreamLanes.DynamoDb;

/// <summary>Writes a consumer's dead letters to a DynamoDB table.</summary>
public static class DynamoDbDeadLetterBuilderExtensions
{
    /// <summary>The configuration section under <c>StreamConsumers:&lt;name&gt;</c>.</summary>
    internal const string Section = "DynamoDbDeadLetters";

    /// <summary>
    /// Writes dead letters to a DynamoDB table (<see cref="DynamoDbDeadLetterSink"/>). Options are bound from
    /// <c>StreamConsumers:&lt;name&gt;:DynamoDbDeadLetters</c> (e.g. <c>TableName</c>, <c>CreateTableIfMissing</c>,
    /// <c>Aws:Region</c>, <c>Aws:ServiceUrl</c>), then <paramref name="configure"/>; invalid options fail start-up naming
    /// each option and its rule. Dead letters over <c>MaxItemBytes</c> go to S3 when the consumer also calls <c>UseS3ClaimCheck</c>.
    /// </summary>
    /// <param name="builder">The consumer.</param>
    /// <param name="tableName">The table. Taken from configuration when <see langword="null"/>.</param>
    /// <param name="configure">Sets the sink's options in code (code wins).</param>
    /// <returns>The builder.</returns>
    public static StreamConsumerBuilder UseDynamoDbDeadLetters(this StreamConsumerBuilder builder, string? tableName = null, Action<DynamoDbDeadLetterSinkOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        string consumer = builder.Name;
        SourceSetup.AddOptions<DynamoDbDeadLetterSinkOptions>(
            builder,
            Section,
            defaults => defaults.TableName = tableName ?? defaults.TableName,
            configure,
            static (o, prefix) => o.Validate(prefix));
        return builder.UseDeadLetterSink(services =>
        {
            DynamoDbDeadLetterSinkOptions options = SourceSetup.Options<DynamoDbDeadLetterSinkOptions>(services, consumer);
            TimeProvider time = SourceSetup.Time(services);
            var (client, owned) = AwsServiceClients.Resolve<IAmazonDynamoDB>(services, () => LeaseSetup.CreateDynamoDbClient(options.Aws, options.Aws.ServiceUrl));
            return new DynamoDbDeadLetterSink(
                client,
                options,
                S3ClaimCheckBuilderExtensions.For(services, consumer),
                time,
                SourceSetup.Loggers(services).CreateLogger($"StreamLanes.Consumer.{consumer}.DynamoDbDeadLetters"))
            {
                OwnsClient = owned,
            };
        });
    }
}
