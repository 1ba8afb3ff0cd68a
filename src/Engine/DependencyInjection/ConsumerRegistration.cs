using System.Text.Json;
using Polly;
using Polly.Retry;
using StreamLanes.Checkpointing;
using StreamLanes.Sinks;

namespace StreamLanes;

/// <summary>What <see cref="StreamConsumerBuilder"/> collected for one consumer; turned into a runtime at start.</summary>
internal sealed class ConsumerRegistration(string name, Type handlerType, Type messageType)
{
    public string Name { get; } = name;

    public Type HandlerType { get; } = handlerType;

    public Type MessageType { get; } = messageType;

    public Func<IServiceProvider, IStreamSource>? Source { get; set; }

    public Func<IServiceProvider, StreamConsumerOptions, ICheckpointStore>? CheckpointStore { get; set; }

    public Func<IServiceProvider, StreamConsumerOptions, IDeadLetterSink>? DeadLetterSink { get; set; }

    public Func<IServiceProvider, object>? Deserializer { get; set; }

    public JsonSerializerOptions? JsonOptions { get; set; }

    public List<Type> NonRetryableTypes { get; } = [];

    public List<Func<Exception, bool>> NonRetryablePredicates { get; } = [];

    public Action<RetryStrategyOptions>? ConfigureRetry { get; set; }

    public Action<ResiliencePipelineBuilder>? ConfigurePipeline { get; set; }

    public Func<StreamRecord, string>? LaneKey { get; set; }

    public Func<StreamRecord, System.Diagnostics.ActivityContext?>? TraceContextExtractor { get; set; }

    /// <summary>
    /// The configuration sections under <c>StreamConsumers:&lt;name&gt;</c> a source bound (e.g. <c>Kinesis</c>), with their
    /// options type: known keys for the start-up warning about unknown ones.
    /// </summary>
    public System.Collections.Concurrent.ConcurrentDictionary<string, Type> BoundSections { get; } = new(StringComparer.OrdinalIgnoreCase);
}
