using System.Diagnostics;

namespace StreamLanes.Sinks;

/// <summary>
/// The republish span of a dead letter (<c>publish {stream}</c>, kind Producer) on the <c>StreamLanes</c> activity source
/// (listeners subscribe by name, so the engine's and this source are one to them). It links to the processing that
/// dead-lettered the record and to the record's producer; a republisher that can carry a trace context (SQS message
/// attributes) sends this span's, so the next processing links back through it.
/// </summary>
internal static class RedriveTracing
{
    public const string PublishOperation = "StreamLanes.Publish";

    public static readonly ActivitySource Source = new("StreamLanes", typeof(RedriveTracing).Assembly.GetName().Version?.ToString());

    /// <summary>Starts the republish span of <paramref name="envelope"/>; null when nobody listens.</summary>
    public static Activity? StartRepublish(DeadLetterEnvelope envelope)
    {
        if (!Source.HasListeners())
        {
            return null;
        }

        var links = new List<ActivityLink>(2);
        if (TryParse(envelope.ProcessingTraceParent, null, out ActivityContext processing))
        {
            links.Add(new ActivityLink(processing, new ActivityTagsCollection { ["streamlanes.link"] = "dead_lettered_processing" }));
        }

        if (TryParse(envelope.ProducerTraceParent, envelope.ProducerTraceState, out ActivityContext producer))
        {
            links.Add(new ActivityLink(producer, new ActivityTagsCollection { ["streamlanes.link"] = "producer" }));
        }

        Activity? span = Source.StartActivity(ActivityKind.Producer, default, null, links, default, PublishOperation);
        if (span is { IsAllDataRequested: true })
        {
            span.DisplayName = "publish " + envelope.Stream;
            span.SetTag("messaging.operation.type", "send");
            span.SetTag("messaging.operation.name", "publish");
            span.SetTag("messaging.destination.name", envelope.Stream);
            span.SetTag("messaging.consumer.group.name", envelope.Consumer);
            span.SetTag("streamlanes.partition_key", SafeText.Escape(envelope.PartitionKey));
            span.SetTag("streamlanes.sequence_number", envelope.SequenceNumber);
            span.SetTag("streamlanes.dead_letter.reason", envelope.Reason.ToString());
        }

        return span;
    }

    /// <summary>Ends a republish span; a failure sets status Error with the exception's type (never its message: it may quote the payload).</summary>
    public static void End(Activity? span, Exception? failure)
    {
        if (span is null)
        {
            return;
        }

        if (failure is not null)
        {
            string type = failure.GetType().FullName ?? failure.GetType().Name;
            span.SetTag("error.type", type);
            span.SetStatus(ActivityStatusCode.Error, type);
        }

        span.Dispose();
    }

    /// <summary>The W3C <c>traceparent</c> of the current republish span, for a republisher to send with the record; null when none.</summary>
    public static string? CurrentPublishTraceParent()
        => Activity.Current is { OperationName: PublishOperation } span && span.Source == Source ? span.Id : null;

    private static bool TryParse(string? traceParent, string? traceState, out ActivityContext context)
    {
        context = default;
        return traceParent is { Length: 55 } && ActivityContext.TryParse(traceParent, traceState is { Length: <= 512 } ? traceState : null, isRemote: true, out context);
    }
}
