using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Polly;
using Polly.Retry;
using StreamLanes.Checkpointing;
using StreamLanes.Sinks;

namespace StreamLanes;

/// <summary>
/// Configures one stream consumer: where it reads (a source), where its checkpoints and dead letters go, how it
/// retries and deserializes. Returned by <c>AddStreamConsumer</c>.
/// </summary>
/// <remarks>
/// Defaults when a part is not chosen: checkpoints in files under <c>DataDirectory/checkpoints</c>; dead letters in
/// <c>DataDirectory/dead-letters/&lt;consumer&gt;.jsonl</c>; System.Text.Json payloads. A source has no default: a
/// consumer without one fails at start-up.
/// </remarks>
public sealed class StreamConsumerBuilder
{
    private readonly ConsumerRegistration _registration;

    internal StreamConsumerBuilder(IServiceCollection services, ConsumerRegistration registration)
    {
        Services = services;
        _registration = registration;
    }

    /// <summary>The consumer's name: its configuration section is <c>StreamConsumers:&lt;Name&gt;</c>.</summary>
    public string Name => _registration.Name;

    /// <summary>The service collection the consumer is registered in.</summary>
    public IServiceCollection Services { get; }

    /// <summary>What was collected so far; the AWS packages' <c>Use…</c> methods declare the configuration sections they bind.</summary>
    internal ConsumerRegistration Registration => _registration;

    /// <summary>Reads from a source built from the service provider; sources for AWS services add their own <c>From…</c> methods on top of this.</summary>
    /// <param name="factory">Builds the source; called once, at start.</param>
    /// <returns>This builder.</returns>
    public StreamConsumerBuilder FromSource(Func<IServiceProvider, IStreamSource> factory)
    {
        ArgumentNullException.ThrowIfNull(factory);
        _registration.Source = factory;
        return this;
    }

    /// <summary>Reads from an in-memory stream.</summary>
    /// <param name="stream">The stream.</param>
    /// <param name="batchSize">Records read per batch. Default 500.</param>
    /// <returns>This builder.</returns>
    public StreamConsumerBuilder FromInMemory(InMemoryStream stream, int batchSize = 500)
    {
        ArgumentNullException.ThrowIfNull(stream);
        return FromSource(_ => new InMemoryStreamSource(stream, batchSize));
    }

    /// <summary>Keeps checkpoints in a store built from the service provider.</summary>
    /// <param name="factory">Builds the store; called once, at start.</param>
    /// <returns>This builder.</returns>
    public StreamConsumerBuilder UseCheckpointStore(Func<IServiceProvider, ICheckpointStore> factory)
    {
        ArgumentNullException.ThrowIfNull(factory);
        _registration.CheckpointStore = (services, _) => factory(services);
        return this;
    }

    /// <summary>Keeps checkpoints in the given store.</summary>
    /// <param name="store">The store.</param>
    /// <returns>This builder.</returns>
    public StreamConsumerBuilder UseCheckpointStore(ICheckpointStore store)
    {
        ArgumentNullException.ThrowIfNull(store);
        return UseCheckpointStore(_ => store);
    }

    /// <summary>Keeps checkpoints in JSON files (the default).</summary>
    /// <param name="directory">The directory; <c>DataDirectory/checkpoints</c> when null.</param>
    /// <returns>This builder.</returns>
    public StreamConsumerBuilder UseFileCheckpoints(string? directory = null)
    {
        _registration.CheckpointStore = (_, options) => new FileCheckpointStore(directory ?? Path.Combine(options.DataDirectory, "checkpoints"));
        return this;
    }

    /// <summary>Keeps checkpoints in memory: a restarted process starts over from each shard's beginning.</summary>
    /// <returns>This builder.</returns>
    public StreamConsumerBuilder UseInMemoryCheckpoints() => UseCheckpointStore(new InMemoryCheckpointStore());

    /// <summary>Writes dead letters to a sink built from the service provider.</summary>
    /// <param name="factory">Builds the sink; called once, at start.</param>
    /// <returns>This builder.</returns>
    public StreamConsumerBuilder UseDeadLetterSink(Func<IServiceProvider, IDeadLetterSink> factory)
    {
        ArgumentNullException.ThrowIfNull(factory);
        _registration.DeadLetterSink = (services, _) => factory(services);
        return this;
    }

    /// <summary>Writes dead letters to the given sink.</summary>
    /// <param name="sink">The sink.</param>
    /// <returns>This builder.</returns>
    public StreamConsumerBuilder UseDeadLetterSink(IDeadLetterSink sink)
    {
        ArgumentNullException.ThrowIfNull(sink);
        return UseDeadLetterSink(_ => sink);
    }

    /// <summary>Appends dead letters to a JSON-lines file (the default).</summary>
    /// <param name="path">The file; <c>DataDirectory/dead-letters/&lt;consumer&gt;.jsonl</c> when null.</param>
    /// <returns>This builder.</returns>
    public StreamConsumerBuilder UseJsonLinesDeadLetters(string? path = null)
    {
        string name = Name;
        _registration.DeadLetterSink = (services, options) => new JsonLinesDeadLetterSink(
            path ?? DefaultDeadLetterPath(options, name),
            services.GetService<ILoggerFactory>()?.CreateLogger($"StreamLanes.Consumer.{name}"));
        return this;
    }

    /// <summary>Sets the consumer's options in code, after configuration was bound (code wins).</summary>
    /// <param name="configure">Changes the options.</param>
    /// <returns>This builder.</returns>
    public StreamConsumerBuilder Configure(Action<StreamConsumerOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        Services.Configure(Name, configure);
        return this;
    }

    /// <summary>Sets what happens to a key whose record finally fails.</summary>
    /// <param name="mode">The failure mode.</param>
    /// <returns>This builder.</returns>
    public StreamConsumerBuilder WithFailureMode(KeyFailureMode mode) => Configure(options => options.FailureMode = mode);

    /// <summary>
    /// Adjusts the Polly retry strategy built from the options (e.g. a custom <c>DelayGenerator</c> or an
    /// <c>OnRetry</c> callback). Its <c>ShouldHandle</c> stays the engine's: classify failures with
    /// <see cref="TreatAsNonRetryable{TException}"/> instead.
    /// </summary>
    /// <param name="configure">Changes the retry options.</param>
    /// <returns>This builder.</returns>
    public StreamConsumerBuilder ConfigureRetry(Action<RetryStrategyOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        _registration.ConfigureRetry += configure;
        return this;
    }

    /// <summary>
    /// Adds Polly strategies around each handler attempt, inside the retry (e.g. a circuit breaker or a rate limiter
    /// towards a struggling downstream). The engine's <see cref="StreamConsumerOptions.AttemptTimeout"/> times the
    /// handler call inside them, so a rate limiter's wait for a permit does not count against it.
    /// </summary>
    /// <param name="configure">Adds strategies.</param>
    /// <returns>This builder.</returns>
    public StreamConsumerBuilder ConfigurePipeline(Action<ResiliencePipelineBuilder> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        _registration.ConfigurePipeline += configure;
        return this;
    }

    /// <summary>Dead-letters records whose handler throws <typeparamref name="TException"/> (or a subclass) at once, without retrying.</summary>
    /// <typeparam name="TException">The exception type.</typeparam>
    /// <returns>This builder.</returns>
    public StreamConsumerBuilder TreatAsNonRetryable<TException>()
        where TException : Exception
    {
        _registration.NonRetryableTypes.Add(typeof(TException));
        return this;
    }

    /// <summary>Dead-letters records whose handler exception matches <paramref name="predicate"/> at once, without retrying.</summary>
    /// <param name="predicate">Returns true for non-retryable exceptions.</param>
    /// <returns>This builder.</returns>
    public StreamConsumerBuilder TreatAsNonRetryable(Func<Exception, bool> predicate)
    {
        ArgumentNullException.ThrowIfNull(predicate);
        _registration.NonRetryablePredicates.Add(predicate);
        return this;
    }

    /// <summary>Deserializes payloads with a custom deserializer instead of System.Text.Json.</summary>
    /// <typeparam name="TMessage">The handler's message type.</typeparam>
    /// <param name="deserializer">The deserializer.</param>
    /// <returns>This builder.</returns>
    /// <exception cref="ArgumentException"><typeparamref name="TMessage"/> is not the handler's message type.</exception>
    public StreamConsumerBuilder UseDeserializer<TMessage>(IPayloadDeserializer<TMessage> deserializer)
    {
        ArgumentNullException.ThrowIfNull(deserializer);
        if (typeof(TMessage) != _registration.MessageType)
        {
            throw new ArgumentException($"Consumer '{Name}' handles {_registration.MessageType.Name} messages; a deserializer of {typeof(TMessage).Name} does not fit.", nameof(deserializer));
        }

        _registration.Deserializer = _ => deserializer;
        return this;
    }

    /// <summary>Uses these System.Text.Json options for the default deserializer (default: <see cref="JsonSerializerOptions.Web"/>).</summary>
    /// <param name="options">The serializer options.</param>
    /// <returns>This builder.</returns>
    public StreamConsumerBuilder UseJsonOptions(JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _registration.JsonOptions = options;
        return this;
    }

    /// <summary>
    /// Orders records by another key than the partition key: records with the same lane key are handled one at a
    /// time, in sequence order, and parked together. The default is the partition key. A coarser key (an entity id
    /// shared by several partition keys) keeps each partition key's order; a finer one gives it up.
    /// </summary>
    /// <param name="laneKey">Returns a record's lane key; called once per record on the reading thread, so keep it cheap.</param>
    /// <returns>This builder.</returns>
    public StreamConsumerBuilder WithLaneKey(Func<StreamRecord, string> laneKey)
    {
        ArgumentNullException.ThrowIfNull(laneKey);
        _registration.LaneKey = laneKey;
        return this;
    }

    /// <summary>
    /// Reads the producer's trace context from a record whose source has no attributes to carry it (a Kinesis or
    /// DynamoDB Streams payload envelope): the record's processing span links to what it returns. Without an extractor,
    /// or when it returns null, the context comes from the record's W3C <c>traceparent</c> / <c>tracestate</c>
    /// attributes, else from SQS's <c>AWSTraceHeader</c>. Called only while a listener samples the <c>StreamLanes</c>
    /// activity source (and once per dead letter); an exception it throws means "no context".
    /// </summary>
    /// <param name="extractor">Returns the record's producer context, or null; keep it cheap, it runs for every traced record.</param>
    /// <returns>This builder.</returns>
    public StreamConsumerBuilder ExtractTraceContext(Func<StreamRecord, System.Diagnostics.ActivityContext?> extractor)
    {
        ArgumentNullException.ThrowIfNull(extractor);
        _registration.TraceContextExtractor = extractor;
        return this;
    }

    // Escaped even though registration validates names: a path is never built from a name as it is.
    internal static string DefaultDeadLetterPath(StreamConsumerOptions options, string consumerName)
        => ConsumerNames.PathInside(Path.Combine(options.DataDirectory, "dead-letters"), $"{ConsumerNames.ToFileName(consumerName)}.jsonl");
}
