using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using StreamLanes.Aws;
using StreamLanes.S3;

namespace StreamLanes.Sqs;

/// <summary>Reads a consumer's records from an SQS queue (FIFO or standard).</summary>
public static class SqsConsumerBuilderExtensions
{
    /// <summary>
    /// Reads from an SQS queue. Options are bound from <c>StreamConsumers:&lt;name&gt;:Sqs</c>, then
    /// <paramref name="configure"/>. FIFO queues are keyed by message group; standard queues by
    /// <see cref="SqsSourceOptions.PartitionKeyAttribute"/>, or not at all. A failing message is retried in-process
    /// with the consumer's back-off, and once dead-lettered it is deleted from the queue; the queue's own redrive
    /// policy only comes into play if this consumer crashes repeatedly on a message. Invalid options fail start-up
    /// with a message naming each option and its rule; a missing queue fails start-up naming the queue, region and
    /// endpoint.
    /// </summary>
    /// <param name="builder">The consumer.</param>
    /// <param name="queue">The queue's URL or name.</param>
    /// <param name="configure">Sets SQS and AWS options in code.</param>
    /// <returns>The builder.</returns>
    public static StreamConsumerBuilder FromSqs(this StreamConsumerBuilder builder, string queue, Action<SqsSourceOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrWhiteSpace(queue);
        string consumer = builder.Name;
        SourceSetup.AddOptions<SqsSourceOptions>(builder, "Sqs", defaults => defaults.Queue = queue, configure, static (o, prefix) => o.Validate(prefix));
        return builder.FromSource(services =>
        {
            SqsSourceOptions options = SourceSetup.Options<SqsSourceOptions>(services, consumer);
            options.ClaimCheck ??= S3ClaimCheckBuilderExtensions.For(services, consumer);
            TimeProvider time = SourceSetup.Time(services);
            ILoggerFactory loggers = SourceSetup.Loggers(services);
            return new SqsSource(
                options,
                SqsClientFactory.Create(services, options.Aws),
                time,
                loggers.CreateLogger($"StreamLanes.Consumer.{consumer}.Sqs"),
                services.GetService<IHostApplicationLifetime>()?.ApplicationStopping ?? default);
        });
    }
}
