using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace StreamLanes.OpenTelemetry;

/// <summary>Registers StreamLanes' activity source and meter with OpenTelemetry.</summary>
/// <remarks>
/// The engine itself depends only on <c>System.Diagnostics</c>: these methods are the same as
/// <c>AddSource("StreamLanes")</c> and <c>AddMeter("StreamLanes")</c>, named so that the registration reads like other
/// instrumentations and keeps working if the names ever change.
/// </remarks>
public static class StreamLanesInstrumentationExtensions
{
    /// <summary>
    /// Records StreamLanes' spans: a <c>process {stream}</c> span (kind Consumer) per record and per dead-letter replay,
    /// an <c>attempt {stream}</c> child per handler attempt, and a <c>publish {stream}</c> span (kind Producer) per
    /// republished dead letter, with OpenTelemetry's messaging attributes and links to the producers' trace contexts.
    /// </summary>
    /// <param name="builder">The tracer provider builder.</param>
    /// <returns>The builder.</returns>
    public static TracerProviderBuilder AddStreamLanesInstrumentation(this TracerProviderBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddSource(StreamLanesTracing.ActivitySourceName);
    }

    /// <summary>
    /// Collects StreamLanes' metrics: OpenTelemetry's messaging instruments (<c>messaging.process.duration</c>,
    /// <c>messaging.client.consumed.messages</c>) and the <c>streamlanes.*</c> counters, histograms and gauges.
    /// </summary>
    /// <param name="builder">The meter provider builder.</param>
    /// <returns>The builder.</returns>
    public static MeterProviderBuilder AddStreamLanesInstrumentation(this MeterProviderBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddMeter(StreamLanesMetrics.MeterName);
    }
}
