namespace StreamLanes.Sinks;

/// <summary>How a redrive (replay, re-publish or purge) runs.</summary>
public sealed class DeadLetterRedriveOptions
{
    /// <summary>Which dead letters to act on. Default: <see cref="DeadLetterFilter.All"/>.</summary>
    public DeadLetterFilter Filter { get; set; } = DeadLetterFilter.All;

    /// <summary>Reports what would be done, changing nothing (no handler call, no publish, no delete). Default: <see langword="false"/>.</summary>
    public bool DryRun { get; set; }

    /// <summary>The smallest <see cref="RatePerSecond"/>: 0.001, one dead letter per 1,000 seconds (a slower rate is a mistake, not a plan).</summary>
    public const double MinRatePerSecond = 0.001;

    /// <summary>The largest <see cref="RatePerSecond"/>: 100,000.</summary>
    public const double MaxRatePerSecond = 100_000;

    /// <summary>
    /// At most this many dead letters acted on per second, over all keys, from <see cref="MinRatePerSecond"/> to
    /// <see cref="MaxRatePerSecond"/>; <see langword="null"/> for no limit. Default: <see langword="null"/>.
    /// </summary>
    public double? RatePerSecond { get; set; }

    /// <summary>How many partition keys are redriven at the same time (a key's dead letters always go one by one, in order). Default: 4.</summary>
    public int MaxConcurrentKeys { get; set; } = 4;

    /// <summary>Checks the options and throws an <see cref="ArgumentException"/> naming each invalid option and its rule.</summary>
    /// <exception cref="ArgumentException">An option is invalid.</exception>
    public void Validate()
    {
        const string prefix = nameof(DeadLetterRedriveOptions) + ".";
        var problems = new List<string>();
        if (Filter is null)
        {
            problems.Add($"{prefix}{nameof(Filter)} is required (use DeadLetterFilter.All for every dead letter).");
        }

        if (RatePerSecond is double rate && rate is not (>= MinRatePerSecond and <= MaxRatePerSecond))
        {
            problems.Add($"{prefix}{nameof(RatePerSecond)} must be between {MinRatePerSecond} (one dead letter per 1,000 s) and {MaxRatePerSecond:N0} per second, not {rate}.");
        }

        if (MaxConcurrentKeys is < 1 or > 256)
        {
            problems.Add($"{prefix}{nameof(MaxConcurrentKeys)} must be between 1 and 256, not {MaxConcurrentKeys}.");
        }

        if (Filter is { From: { } from, To: { } to } && from >= to)
        {
            problems.Add($"{prefix}{nameof(Filter)}: From ({from:O}) must be before To ({to:O}).");
        }

        if (problems.Count > 0)
        {
            throw new ArgumentException(string.Join(" ", problems));
        }
    }
}

/// <summary>What happened to one dead letter in a redrive.</summary>
public enum DeadLetterOutcome
{
    /// <summary>Dry run: it matched and would have been acted on.</summary>
    DryRun = 0,

    /// <summary>Handled successfully by the consumer's handler, and deleted.</summary>
    Replayed = 1,

    /// <summary>Written back to the source stream or queue, and deleted.</summary>
    Republished = 2,

    /// <summary>Deleted.</summary>
    Purged = 3,

    /// <summary>The action failed; the dead letter stays (after a failed replay, with the new attempts appended).</summary>
    Failed = 4,

    /// <summary>Not attempted because an earlier dead letter of its partition key failed: it must not overtake it.</summary>
    SkippedBehindFailure = 5,
}

/// <summary>One dead letter's outcome in a redrive report.</summary>
/// <param name="Id">The dead letter's id.</param>
/// <param name="Consumer">The consumer.</param>
/// <param name="PartitionKey">The partition key.</param>
/// <param name="SequenceNumber">The sequence number.</param>
/// <param name="Reason">Why it was dead-lettered.</param>
/// <param name="Outcome">What happened.</param>
/// <param name="Error">For <see cref="DeadLetterOutcome.Failed"/>, why (no payload).</param>
public sealed record DeadLetterRedriveItem(
    string Id,
    string Consumer,
    string PartitionKey,
    string SequenceNumber,
    DeadLetterReason Reason,
    DeadLetterOutcome Outcome,
    string? Error);

/// <summary>The result of a redrive: each dead letter's outcome and the counts by outcome.</summary>
public sealed record DeadLetterRedriveReport
{
    /// <summary>The operation: <c>replay</c>, <c>republish</c> or <c>purge</c>.</summary>
    public required string Operation { get; init; }

    /// <summary>Whether it was a dry run.</summary>
    public required bool DryRun { get; init; }

    /// <summary>Each matching dead letter's outcome, in the order acted on.</summary>
    public required IReadOnlyList<DeadLetterRedriveItem> Items { get; init; }

    /// <summary>Partition keys a <c>ParkKey</c> consumer released because their whole backlog replayed successfully.</summary>
    public IReadOnlyList<string> ReleasedKeys { get; init; } = [];

    /// <summary>The number of dead letters per outcome (outcomes that did not occur are absent).</summary>
    public IReadOnlyDictionary<DeadLetterOutcome, int> Counts => Items.GroupBy(static i => i.Outcome).ToDictionary(static g => g.Key, static g => g.Count());

    /// <summary>Whether any dead letter failed or was skipped behind a failure.</summary>
    public bool HasFailures => Items.Any(static i => i.Outcome is DeadLetterOutcome.Failed or DeadLetterOutcome.SkippedBehindFailure);
}
