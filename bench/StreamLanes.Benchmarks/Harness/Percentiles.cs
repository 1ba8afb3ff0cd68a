namespace StreamLanes.Benchmarks.Harness;

internal static class Percentiles
{
    /// <summary>The nearest-rank percentile of <paramref name="values"/> (unsorted); NaN when empty.</summary>
    public static double Of(IReadOnlyCollection<double> values, double fraction)
    {
        if (values.Count == 0)
        {
            return double.NaN;
        }

        double[] sorted = [.. values.Order()];
        int rank = (int)Math.Ceiling(fraction * sorted.Length) - 1;
        return sorted[Math.Clamp(rank, 0, sorted.Length - 1)];
    }

    public static double Median(IReadOnlyCollection<double> values) => Of(values, 0.5);
}
