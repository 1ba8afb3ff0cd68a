namespace StreamLanes.AspNetCore;

/// <summary>Options of the dashboard mapped by <see cref="StreamLanesDashboardEndpointRouteBuilderExtensions.MapStreamLanesDashboard"/>.</summary>
public sealed class StreamLanesDashboardOptions
{
    /// <summary>
    /// Whether the dead-letter detail view shows payloads (as text, JSON or hex). Payloads may hold personal data, so
    /// they are shown only when the host opts in. Default: <see langword="false"/> (the view shows the payload's size only).
    /// </summary>
    public bool ShowPayloads { get; set; }

    /// <summary>How often the page refreshes and the throughput history takes a sample, 250 ms to 1 min. Default: 2 s.</summary>
    public TimeSpan RefreshInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Samples of throughput and retries kept per consumer for the chart, 10 to 10,000. Default: 150 (5 minutes at 2 s).</summary>
    public int HistorySamples { get; set; } = 150;

    /// <summary>Dead letters per page, 1 to 500. Default: 50.</summary>
    public int PageSize { get; set; } = 50;

    /// <summary>
    /// How long the dashboard's index of a consumer's dead letters is trusted when the consumer dead-lettered nothing
    /// new, 1 s to 1 day: after that the next page re-reads the store, to see changes made outside the dashboard.
    /// Default: 1 min.
    /// </summary>
    public TimeSpan DeadLetterIndexMaxAge { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Checks the options and throws an <see cref="ArgumentException"/> naming each invalid option and its rule.</summary>
    /// <exception cref="ArgumentException">An option is invalid.</exception>
    public void Validate()
    {
        const string prefix = nameof(StreamLanesDashboardOptions) + ".";
        var problems = new List<string>();
        if (RefreshInterval < TimeSpan.FromMilliseconds(250) || RefreshInterval > TimeSpan.FromMinutes(1))
        {
            problems.Add($"{prefix}{nameof(RefreshInterval)} must be between 250 ms and 1 min; it was {RefreshInterval}.");
        }

        if (HistorySamples is < 10 or > 10_000)
        {
            problems.Add($"{prefix}{nameof(HistorySamples)} must be between 10 and 10,000; it was {HistorySamples}.");
        }

        if (PageSize is < 1 or > 500)
        {
            problems.Add($"{prefix}{nameof(PageSize)} must be between 1 and 500; it was {PageSize}.");
        }

        if (DeadLetterIndexMaxAge < TimeSpan.FromSeconds(1) || DeadLetterIndexMaxAge > TimeSpan.FromDays(1))
        {
            problems.Add($"{prefix}{nameof(DeadLetterIndexMaxAge)} must be between 1 s and 1 day; it was {DeadLetterIndexMaxAge}.");
        }

        if (problems.Count > 0)
        {
            throw new ArgumentException(string.Join(" ", problems));
        }
    }
}
