namespace StreamLanes;

/// <summary>The name of the <see cref="System.Diagnostics.ActivitySource"/> StreamLanes traces record processing on.</summary>
/// <remarks>
/// <para>
/// One span per record processing (<c>process {stream}</c>, kind Consumer) with a child per handler attempt
/// (<c>attempt {stream}</c>, kind Internal, current while the handler runs, so the handler's own spans nest under it),
/// following OpenTelemetry's messaging conventions: <c>messaging.system</c> (<c>aws_sqs</c>; <c>aws_kinesis</c> and
/// <c>aws_dynamodb_streams</c>, which the conventions do not list; <c>streamlanes_in_memory</c>),
/// <c>messaging.operation.type</c> = <c>process</c>, <c>messaging.destination.name</c>, <c>messaging.message.id</c>,
/// <c>messaging.consumer.group.name</c> (the consumer) and <c>streamlanes.*</c> attributes (partition key, attempt,
/// outcome). A record that carries its producer's trace context is linked to it, not parented by it.
/// </para>
/// <para>
/// Nothing is created, parsed or allocated while no listener samples the source. Subscribe with OpenTelemetry's
/// <c>AddSource("StreamLanes")</c> or the StreamLanes.OpenTelemetry package's <c>AddStreamLanesInstrumentation()</c>.
/// </para>
/// </remarks>
public static class StreamLanesTracing
{
    /// <summary>The activity source's name: <c>StreamLanes</c>.</summary>
    public const string ActivitySourceName = "StreamLanes";
}
