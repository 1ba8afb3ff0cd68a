using System.Diagnostics;
using StreamLanes.Sinks;

namespace StreamLanes;

/// <summary>
/// One consumer's spans and messaging-convention metrics for record processing: a <c>process</c> span per record (and per
/// replay), a child per handler attempt, <c>messaging.process.duration</c> and <c>messaging.client.consumed.messages</c>.
/// </summary>
/// <remarks>
/// Every entry point first asks whether anyone listens (<see cref="ActivitySource.HasListeners"/>, the instrument's
/// <c>Enabled</c>): with nobody listening a record costs a few field reads and allocates nothing, and a span that a
/// sampler drops is never described (no attribute, no link parsed). The producer's context is
/// a link, not the parent: a record is processed long after, often in a batch with others from unrelated traces,
/// retried and maybe replayed days later, so the processing is its own trace that points at its cause (as the
/// messaging conventions recommend for consumers), rather than stretching the producer's trace over hours.
/// </remarks>
internal sealed class RecordTracing(string consumer, ConsumerCounters counters, TimeProvider timeProvider)
{
    public const string ProcessOperation = "StreamLanes.Process";
    public const string AttemptOperation = "StreamLanes.Attempt";

    public static readonly ActivitySource Source = new(StreamLanesTracing.ActivitySourceName, typeof(RecordTracing).Assembly.GetName().Version?.ToString());

    // Span names and small numbers as objects, made once: a sampled record would otherwise allocate two name strings
    // and box its attempt numbers (bench/RESULTS.md §14).
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, (string Process, string Attempt)> Names = new(StringComparer.Ordinal);
    private static readonly object[] SmallNumbers = [.. Enumerable.Range(0, 33).Select(static n => (object)n)];
    private const int MaxCachedNames = 1024;

    /// <summary>Reads a producer's context from a record (a payload envelope); null reads the record's attributes only.</summary>
    public Func<StreamRecord, ActivityContext?>? Extractor { get; set; }

    /// <summary>Whether anyone listens to the processing spans or the <c>messaging.process.duration</c> histogram.</summary>
    public bool IsActive => Source.HasListeners() || counters.Instruments.ProcessDuration.Enabled;

    /// <summary>Starts a live record's processing; inert (no span, no clock read) when nobody listens.</summary>
    public ProcessingScope Start(StreamRecord record)
    {
        Activity? span = null;
        if (Source.HasListeners())
        {
            // The producer's context is read only once the span exists: parsing a traceparent allocates its two ids,
            // which a listener that samples the record out must not pay for (samplers see no links; they rarely look).
            span = Source.StartActivity(ActivityKind.Consumer, default, null, null, default, ProcessOperation);
            if (span is { IsAllDataRequested: true })
            {
                ActivityContext producer = TraceContextReader.ProducerContext(record, Extractor);
                if (producer != default)
                {
                    span.AddLink(new ActivityLink(producer));
                }

                Describe(span, record);
            }
            else if (span is not null)
            {
                span.DisplayName = NamesOf(record.StreamName).Process;
            }
        }

        return new ProcessingScope(span, NeedsClock(span) ? timeProvider.GetTimestamp() : 0);
    }

    /// <summary>Starts a dead letter's replay: links to the processing that dead-lettered it and to its producer.</summary>
    public ProcessingScope StartReplay(StreamRecord record, DeadLetterEnvelope envelope)
    {
        Activity? span = null;
        if (Source.HasListeners())
        {
            var links = new List<ActivityLink>(2);
            if (TraceContextReader.TryParseW3C(envelope.ProcessingTraceParent, null, out ActivityContext processing))
            {
                links.Add(new ActivityLink(processing, new ActivityTagsCollection { ["streamlanes.link"] = "dead_lettered_processing" }));
            }

            ActivityContext producer = TraceContextReader.TryParseW3C(envelope.ProducerTraceParent, envelope.ProducerTraceState, out ActivityContext stored)
                ? stored
                : TraceContextReader.ProducerContext(record, Extractor);
            if (producer != default)
            {
                links.Add(new ActivityLink(producer, new ActivityTagsCollection { ["streamlanes.link"] = "producer" }));
            }

            span = Source.StartActivity(ActivityKind.Consumer, default, null, links, default, ProcessOperation);
            if (span is not null)
            {
                Describe(span, record);
                span.SetTag("streamlanes.replay", true);
            }
        }

        return new ProcessingScope(span, NeedsClock(span) ? timeProvider.GetTimestamp() : 0);
    }

    /// <summary>Ends a processing: its outcome on the span and <c>messaging.process.duration</c>.</summary>
    public void End(in ProcessingScope scope, StreamRecord record)
    {
        if (scope.Started == 0 && scope.Span is null)
        {
            return;
        }

        // An interrupted processing (stop, lease lost) is not a failure: the record is handled again later.
        string? errorType = scope.Outcome is ProcessingOutcome.DeadLettered or ProcessingOutcome.Parked
            ? scope.ErrorType ?? scope.Reason?.ToString()
            : null;
        if (scope.Span is Activity { IsAllDataRequested: false } propagationOnly)
        {
            propagationOnly.Dispose();
        }
        else if (scope.Span is Activity span)
        {
            span.SetTag("streamlanes.outcome", OutcomeName(scope.Outcome));
            span.SetTag("streamlanes.attempts", Boxed(scope.Attempts));
            if (scope.Reason is DeadLetterReason reason)
            {
                span.SetTag("streamlanes.dead_letter.reason", reason.ToString());
            }

            if (errorType is not null)
            {
                span.SetTag("error.type", errorType);
                span.SetStatus(ActivityStatusCode.Error, scope.Reason?.ToString());
            }

            span.Dispose();
        }

        var histogram = counters.Instruments.ProcessDuration;
        if (scope.Started != 0 && histogram.Enabled)
        {
            TagList tags = MetricTags(record, consumer, "process");
            if (errorType is not null)
            {
                tags.Add("error.type", errorType);
            }

            histogram.Record(timeProvider.GetElapsedTime(scope.Started).TotalSeconds, tags);
        }
    }

    /// <summary>Counts a record read from the source (<c>messaging.client.consumed.messages</c>, operation <c>receive</c>).</summary>
    public static void Consumed(StreamLanesInstruments instruments, string consumer, StreamRecord record)
    {
        var counter = instruments.ConsumedMessages;
        if (counter.Enabled)
        {
            counter.Add(1, MetricTags(record, consumer, "receive"));
        }
    }

    /// <summary>Starts an attempt's span under the current processing span; null when that is not being recorded.</summary>
    public static Activity? StartAttempt(StreamRecord record, int attempt)
    {
        // Under a processing span kept only to propagate its context (sampled out, e.g. OpenTelemetry's AlwaysOff), no
        // attempt span: nobody would see it, and the handler sees the processing span's context anyway.
        if (!Source.HasListeners() || Activity.Current is not { OperationName: ProcessOperation, IsAllDataRequested: true } processing || processing.Source != Source)
        {
            return null;
        }

        Activity? span = Source.StartActivity(AttemptOperation, ActivityKind.Internal);
        if (span is not null)
        {
            span.DisplayName = NamesOf(record.StreamName).Attempt;
            span.SetTag("streamlanes.attempt", Boxed(attempt));
        }

        return span;
    }

    /// <summary>Ends an attempt's span: on failure, status Error and an exception event (type and an escaped, capped message).</summary>
    public static void EndAttempt(Activity? span, Exception? failure)
    {
        if (span is null)
        {
            return;
        }

        if (failure is null)
        {
            span.SetTag("streamlanes.attempt.outcome", "succeeded");
        }
        else
        {
            string type = failure.GetType().FullName ?? failure.GetType().Name;
            span.SetTag("streamlanes.attempt.outcome", "failed");
            span.SetTag("error.type", type);
            span.SetStatus(ActivityStatusCode.Error, type);

            // Not Activity.AddException: its exception.stacktrace is ToString(), which repeats every inner message
            // unescaped and uncapped. A handler's message may quote stream data; the dead letter keeps it exact.
            span.AddEvent(new ActivityEvent("exception", tags: new ActivityTagsCollection
            {
                ["exception.type"] = type,
                ["exception.message"] = SafeText.Escape(failure.Message, MessageMaxLength),
            }));
        }

        span.Dispose();
    }

    /// <summary>The trace context the dead letter of the processing running now keeps (null fields when not traced).</summary>
    public (string? Processing, string? Producer, string? ProducerState) EnvelopeContext(StreamRecord record)
    {
        // Only a recorded span: a link to one that was sampled out would point at nothing.
        string? processing = Activity.Current is { OperationName: ProcessOperation, Recorded: true } span && span.Source == Source
            ? TraceContextReader.ToTraceParent(span.Context)
            : null;
        ActivityContext producer = TraceContextReader.ProducerContext(record, Extractor);
        return producer == default
            ? (processing, null, null)
            : (processing, TraceContextReader.ToTraceParent(producer), producer.TraceState);
    }

    private const int MessageMaxLength = 256;

    private bool NeedsClock(Activity? span) => span is not null || counters.Instruments.ProcessDuration.Enabled;

    private void Describe(Activity span, StreamRecord record)
    {
        span.DisplayName = NamesOf(record.StreamName).Process;
        if (!span.IsAllDataRequested)
        {
            return;
        }

        span.SetTag("messaging.system", MessagingSystem(record.SourceKind));
        span.SetTag("messaging.operation.type", "process");
        span.SetTag("messaging.operation.name", "process");
        span.SetTag("messaging.destination.name", record.StreamName);
        span.SetTag("messaging.destination.partition.id", SafeText.Escape(record.ShardId));
        span.SetTag("messaging.message.id", MessageId(record));
        span.SetTag("messaging.consumer.group.name", consumer);
        span.SetTag("messaging.message.body.size", record.Data.Length);
        span.SetTag("streamlanes.partition_key", SafeText.Escape(record.PartitionKey));
        if (record.SourceKind == SourceKind.Sqs)
        {
            // A stream record's message id is its sequence number already; an SQS message's is its MessageId.
            span.SetTag("streamlanes.sequence_number", record.SequenceNumber);
        }
    }

    private static (string Process, string Attempt) NamesOf(string stream)
    {
        if (Names.TryGetValue(stream, out (string Process, string Attempt) names))
        {
            return names;
        }

        names = ("process " + stream, "attempt " + stream);
        if (Names.Count < MaxCachedNames)
        {
            Names.TryAdd(stream, names);
        }

        return names;
    }

    private static object Boxed(int number) => (uint)number < (uint)SmallNumbers.Length ? SmallNumbers[number] : number;

    private static TagList MetricTags(StreamRecord record, string consumer, string operation) => new()
    {
        { "messaging.system", MessagingSystem(record.SourceKind) },
        { "messaging.operation.name", operation },
        { "messaging.destination.name", record.StreamName },
        { "messaging.consumer.group.name", consumer },
    };

    /// <summary>The conventions' <c>messaging.system</c>; Kinesis and DynamoDB Streams are not listed there, so these are ours.</summary>
    public static string MessagingSystem(SourceKind kind) => kind switch
    {
        SourceKind.Sqs => "aws_sqs",
        SourceKind.Kinesis => "aws_kinesis",
        SourceKind.DynamoDbStreams => "aws_dynamodb_streams",
        _ => "streamlanes_in_memory",
    };

    // SQS's own MessageId when the source recorded it; a stream record's id is its sequence number.
    private static string MessageId(StreamRecord record)
        => record.SourceKind == SourceKind.Sqs && record.Attributes.TryGetValue("Sqs.MessageId", out string? id)
            ? SafeText.Escape(id)
            : record.SequenceNumber;

    private static string OutcomeName(ProcessingOutcome outcome) => outcome switch
    {
        ProcessingOutcome.Succeeded => "succeeded",
        ProcessingOutcome.Retried => "retried",
        ProcessingOutcome.DeadLettered => "dead_lettered",
        ProcessingOutcome.Parked => "parked",
        _ => "interrupted",
    };
}

/// <summary>How a record's processing ended.</summary>
internal enum ProcessingOutcome
{
    /// <summary>Stopped before an end (shutdown, lease lost, a fault): the record is handled again later.</summary>
    Interrupted,

    /// <summary>The first attempt succeeded.</summary>
    Succeeded,

    /// <summary>An attempt after the first succeeded.</summary>
    Retried,

    /// <summary>Written to the dead letters (retries exhausted, too old, non-retryable).</summary>
    DeadLettered,

    /// <summary>Written to the dead letters without an attempt because its key is parked.</summary>
    Parked,
}

/// <summary>A processing in flight: its span (null when not recorded) and start (0 when nothing measures it).</summary>
internal struct ProcessingScope(Activity? span, long started)
{
    public readonly Activity? Span = span;
    public readonly long Started = started;

    public ProcessingOutcome Outcome { get; private set; }

    public int Attempts { get; private set; }

    public DeadLetterReason? Reason { get; private set; }

    public string? ErrorType { get; private set; }

    public void Succeeded(int attempts)
    {
        Outcome = attempts > 1 ? ProcessingOutcome.Retried : ProcessingOutcome.Succeeded;
        Attempts = attempts;
    }

    public void DeadLettered(DeadLetterReason reason, DeadLetterAttempt[] attempts)
    {
        Outcome = reason == DeadLetterReason.ParkedBehind ? ProcessingOutcome.Parked : ProcessingOutcome.DeadLettered;
        Reason = reason;
        Attempts = attempts.Length;
        ErrorType = attempts.Length == 0 ? null : attempts[^1].ExceptionType;
    }
}
