using System.Reflection;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using StreamLanes.Checkpointing;
using StreamLanes.Sinks;

namespace StreamLanes;

/// <summary>Registers stream consumers in a host's services.</summary>
public static class StreamConsumerServiceCollectionExtensions
{
    /// <summary>
    /// Registers a stream consumer run by a hosted service: its options (bound from
    /// <c>StreamConsumers:&lt;name&gt;</c>, validated at start-up), a health check named <c>streamlanes-&lt;name&gt;</c>,
    /// and an <see cref="IStreamConsumer"/> keyed by its name. Call it once per consumer; several consumers may share
    /// a host.
    /// </summary>
    /// <typeparam name="THandler">The handler: implements <see cref="IStreamHandler{TMessage}"/> for exactly one message type.</typeparam>
    /// <param name="services">The services.</param>
    /// <param name="name">
    /// The consumer's name; the handler's type name when null. It becomes a file name, so it is 1 to 128 ASCII letters,
    /// digits, '-', '_' or '.', and not "." or "..".
    /// </param>
    /// <param name="configure">Sets options in code, after configuration was bound.</param>
    /// <returns>A builder to choose the source, checkpoint store, dead-letter sink and retry behaviour.</returns>
    /// <exception cref="ArgumentException">The handler does not implement one <see cref="IStreamHandler{TMessage}"/>, or the name is invalid or taken.</exception>
    public static StreamConsumerBuilder AddStreamConsumer<THandler>(this IServiceCollection services, string? name = null, Action<StreamConsumerOptions>? configure = null)
        where THandler : class
    {
        ArgumentNullException.ThrowIfNull(services);
        name ??= typeof(THandler).Name.Split('`')[0];
        ConsumerNames.Validate(name, nameof(name));
        Type[] handled = [.. typeof(THandler).GetInterfaces()
            .Where(static type => type.IsGenericType && type.GetGenericTypeDefinition() == typeof(IStreamHandler<>))
            .Select(static type => type.GetGenericArguments()[0])];
        if (handled.Length != 1)
        {
            throw new ArgumentException($"{typeof(THandler).Name} must implement IStreamHandler<TMessage> for exactly one message type; it implements it for {handled.Length}.", nameof(THandler));
        }

        if (services.Any(descriptor => descriptor.IsKeyedService && descriptor.ServiceType == typeof(ConsumerRegistration) && Equals(descriptor.ServiceKey, name)))
        {
            throw new ArgumentException($"A stream consumer named '{name}' is already registered; give each consumer its own name.", nameof(name));
        }

        var registration = new ConsumerRegistration(name, typeof(THandler), handled[0]);
        services.AddKeyedSingleton(name, registration);

        ConsumerOptions.Add(services, name, new StreamConsumerOptionsValidator(), configure: configure);

        services.AddKeyedSingleton(name, (provider, _) => CreateRuntime(provider, registration));
        services.AddKeyedSingleton<IStreamConsumer>(name, (provider, key) => provider.GetRequiredKeyedService<StreamConsumerRuntime>(key));
        services.AddSingleton<IHostedService>(provider => new StreamConsumerHostedService(provider.GetRequiredKeyedService<StreamConsumerRuntime>(name)));
        services.AddHealthChecks().Add(new HealthCheckRegistration(
            $"streamlanes-{name}",
            provider => new StreamConsumerHealthCheck(provider.GetRequiredKeyedService<StreamConsumerRuntime>(name)),
            failureStatus: null,
            tags: ["streamlanes"]));

        return new StreamConsumerBuilder(services, registration);
    }

    private static StreamConsumerRuntime CreateRuntime(IServiceProvider provider, ConsumerRegistration registration)
    {
        ILogger logger = provider.GetService<ILoggerFactory>()?.CreateLogger($"StreamLanes.Consumer.{registration.Name}") ?? NullLogger.Instance;
        StreamConsumerOptions options;
        try
        {
            options = provider.GetRequiredService<IOptionsMonitor<StreamConsumerOptions>>().Get(registration.Name);
        }
        catch (OptionsValidationException)
        {
            // A misspelt key is often why a value is invalid (the default stayed): say so next to the failure.
            UnknownConfigurationKeys.Warn(provider.GetService<IConfiguration>(), registration, logger);
            throw;
        }

        if (registration.Source is null)
        {
            throw new InvalidOperationException($"Stream consumer '{registration.Name}' has no source: call FromInMemory(...), FromKinesis(...) or FromSource(...) on the builder AddStreamConsumer returned.");
        }

        TimeProvider timeProvider = provider.GetService<TimeProvider>() ?? TimeProvider.System;
        IStreamSource source = registration.Source(provider);

        // After the source bound its own section (e.g. Kinesis), so that its keys are known too.
        UnknownConfigurationKeys.Warn(provider.GetService<IConfiguration>(), registration, logger);
        ICheckpointStore checkpointStore = CheckpointStoreFor(source, registration, provider, options);
        IDeadLetterSink sink = registration.DeadLetterSink?.Invoke(provider, options)
            ?? new JsonLinesDeadLetterSink(StreamConsumerBuilder.DefaultDeadLetterPath(options, registration.Name), logger);

        var invoker = (IHandlerInvoker)typeof(StreamConsumerServiceCollectionExtensions)
            .GetMethod(nameof(CreateInvoker), BindingFlags.NonPublic | BindingFlags.Static)!
            .MakeGenericMethod(registration.MessageType)
            .Invoke(null, [provider, registration, options])!;

        var runtime = new StreamConsumerRuntime(
            registration.Name,
            options,
            invoker,
            source,
            checkpointStore,
            sink,
            RetryPipelineFactory.Create(options, timeProvider, registration.ConfigureRetry, registration.ConfigurePipeline),
            new NonRetryablePolicy(registration.NonRetryableTypes, registration.NonRetryablePredicates),
            timeProvider,
            logger,
            registration.LaneKey);
        StreamConsumerOptions replayOptions = options.FailureMode == KeyFailureMode.RetryUntilSuccess
            ? CopyWithFailureMode(options, KeyFailureMode.DeadLetterAndContinue)
            : options;
        runtime.ReplayPipeline = RetryPipelineFactory.Create(replayOptions, timeProvider, registration.ConfigureRetry, registration.ConfigurePipeline);
        runtime.AttemptTimeouts = RetryPipelineFactory.CreateAttemptTimeouts(options, timeProvider);
        runtime.UseMeterFactory(provider.GetService<System.Diagnostics.Metrics.IMeterFactory>());
        runtime.Tracing.Extractor = registration.TraceContextExtractor;
        return runtime;
    }

    /// <summary>
    /// The consumer's checkpoint store, for a source that uses it; for one that keeps its own checkpoints, a configured
    /// store is a mistake (it would be silently unused), and the default file store is built only if ever asked for.
    /// </summary>
    private static ICheckpointStore CheckpointStoreFor(IStreamSource source, ConsumerRegistration registration, IServiceProvider provider, StreamConsumerOptions options)
    {
        ICheckpointStore DefaultStore() => new FileCheckpointStore(Path.Combine(options.DataDirectory, "checkpoints"));
        if (source.UsesConsumerCheckpointStore)
        {
            return registration.CheckpointStore?.Invoke(provider, options) ?? DefaultStore();
        }

        if (registration.CheckpointStore is not null && source is IParkedKeysInCheckpointStore)
        {
            // The source has no checkpoint, but a ParkKey consumer's parked keys must outlive the process: they go here.
            return options.FailureMode == KeyFailureMode.ParkKey
                ? registration.CheckpointStore(provider, options)
                : throw new InvalidOperationException(
                    $"Stream consumer '{registration.Name}' reads a {source.Kind} source, which keeps no checkpoints; its checkpoint store "
                    + "(UseCheckpointStore, UseFileCheckpoints, UseInMemoryCheckpoints, UseDynamoDbCheckpoints) keeps only the parked keys of "
                    + "FailureMode ParkKey, and this consumer's FailureMode is " + options.FailureMode + ". Remove the call, or set FailureMode to ParkKey.");
        }

        if (registration.CheckpointStore is not null)
        {
            throw new InvalidOperationException(
                $"Stream consumer '{registration.Name}' reads a {source.Kind} source, which keeps its own checkpoints "
                + "(Kinesis and DynamoDB Streams in their lease table, SQS by deleting handled messages); UseCheckpointStore, "
                + "UseFileCheckpoints and UseInMemoryCheckpoints apply only to sources that save through the consumer's "
                + "checkpoint store (in-memory, or your own FromSource). Remove the call.");
        }

        return new LazyCheckpointStore(DefaultStore);
    }

    private static StreamConsumerOptions CopyWithFailureMode(StreamConsumerOptions options, KeyFailureMode mode)
    {
        // Only what RetryPipelineFactory reads.
        return new StreamConsumerOptions
        {
            FailureMode = mode,
            MaxAttempts = options.MaxAttempts,
            Retry = options.Retry,
            RetryBackoff = options.RetryBackoff,
            RetryJitter = options.RetryJitter,
            AttemptTimeout = options.AttemptTimeout,
        };
    }

    private static HandlerInvoker<TMessage> CreateInvoker<TMessage>(IServiceProvider provider, ConsumerRegistration registration, StreamConsumerOptions options)
    {
        IPayloadDeserializer<TMessage> deserializer = registration.Deserializer is { } factory
            ? (IPayloadDeserializer<TMessage>)factory(provider)
            : PayloadDeserializers.Default<TMessage>(registration.JsonOptions);
        return new HandlerInvoker<TMessage>(provider, registration.HandlerType, deserializer, options.CreateScopePerRecord);
    }
}
