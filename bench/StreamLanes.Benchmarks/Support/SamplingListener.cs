using System.Diagnostics;

namespace StreamLanes.Benchmarks.Support;

/// <summary>The tracing benchmarks' listener: none, or one that samples StreamLanes' activities as given.</summary>
internal static class SamplingListener
{
    /// <summary>Starts listening to StreamLanes' activity source with <paramref name="sampling"/>; null (nothing listens) for null.</summary>
    public static ActivityListener? Start(ActivitySamplingResult? sampling)
    {
        if (sampling is not ActivitySamplingResult result)
        {
            return null;
        }

        var listener = new ActivityListener
        {
            ShouldListenTo = static source => source.Name == StreamLanesTracing.ActivitySourceName,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => result,
        };
        ActivitySource.AddActivityListener(listener);
        return listener;
    }
}
