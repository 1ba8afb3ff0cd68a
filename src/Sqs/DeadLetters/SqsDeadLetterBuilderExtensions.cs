using Microsoft.Extensions.Logging;
using StreamLanes.Aws;
using StreamLanes.S3;

namespace StreamLanes.Sqs;

/// <summary>Writes a consumer's dead letters to an SQS queue.</summary>
public static class SqsDeadLetterBuilderExtensions
{
    /// <summary>The configuration section under <c>StreamConsumers:&lt;name&gt;</c>.</summary>
    internal const string Section = "SqsDeadLetters";

    /// <summary>
    /// Writes dead letters to an SQS queue (<see cref="SqsDeadLetterSink"/>). Options are bound from
    /// <c>StreamConsumers:&lt;name&gt;:SqsDeadLetters</c> (e.g. <c>QueueUrl</c>, <c>MaxMessageBytes</c>, <c>Aws:Region</c>,
    /// <c>Aws:SqsServiceUrl</c>), then <paramref name="configure"/>; invalid options fail start-up naming each option and
    /// its rule. Dead letters over <c>MaxMessageBytes</c> go to S3 when the consumer also calls <c>UseS3ClaimCheck</c>.
    /// </summary>
    /// <param name="builder">The consumer.</param>
    /// <param name="queueUrl">The queue's URL. Taken from configuration when <see langword="null"/>.</param>
    /// <param name="configure">Sets the sink's options in code (code wins).</param>
    /// <returns>The builder.</returns>
    public static StreamConsumerBuilder UseSqsDeadLetters(this StreamConsumerBuilder builder, string? queueUrl = null, Action<SqsDeadLetterSinkOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        string consumer = builder.Name;
        SourceSetup.AddOptions<SqsDeadLetterSinkOptions>(
            builder,
            Section,
            defaults => defaults.QueueUrl = queueUrl ?? defaults.QueueUrl,
            configure,
            static (o, prefix) => o.Validate(prefix));
        return builder.UseDeadLetterSink(services =>
        {
            SqsDeadLetterSinkOptions options = SourceSetup.Options<SqsDeadLetterSinkOptions>(services, consumer);
            TimeProvider time = SourceSetup.Time(services);
            ILoggerFactory loggers = SourceSetup.Loggers(services);
            return new SqsDeadLetterSink(
                SqsClientFactory.Create(services, options.Aws),
                options,
                S3ClaimCheckBuilderExtensions.For(services, consumer),
                time,
                loggers.CreateLogger($"StreamLanes.Consumer.{consumer}.SqsDeadLetters"))
            {
                OwnsClient = true,
            };
        });
    }
}
