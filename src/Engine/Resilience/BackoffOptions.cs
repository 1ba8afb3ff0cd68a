namespace StreamLanes;

/// <summary>
/// How long StreamLanes waits between the retries of one operation (a handler attempt, a dead-letter write, a shard
/// read, a queue receive, an AWS request): the first wait is about <see cref="InitialDelay"/>, each next one doubles,
/// and none exceeds <see cref="MaxDelay"/>. Every option that holds one names it <c>&lt;Operation&gt;Retry</c> and is
/// bound from configuration as <c>&lt;Operation&gt;Retry:InitialDelay</c> and <c>&lt;Operation&gt;Retry:MaxDelay</c>.
/// The defaults belong to the option that holds it (see each one); a standalone instance has 1 s and 30 s.
/// </summary>
public sealed class BackoffOptions
{
    /// <summary>The wait before the first retry, from which later ones grow. Default 1 s unless the holding option says otherwise.</summary>
    public TimeSpan InitialDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>The longest wait between two retries; at least <see cref="InitialDelay"/>. Default 30 s unless the holding option says otherwise.</summary>
    public TimeSpan MaxDelay { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>A copy with the given values.</summary>
    internal static BackoffOptions Of(TimeSpan initialDelay, TimeSpan maxDelay) => new() { InitialDelay = initialDelay, MaxDelay = maxDelay };

    /// <summary>
    /// Adds a failure for each rule that <paramref name="prefix"/><paramref name="name"/><c>:InitialDelay</c> and
    /// <c>:MaxDelay</c> break: the first within [<paramref name="minInitial"/>, <paramref name="maxInitial"/>], the
    /// second at least the first and at most <paramref name="maxMax"/>.
    /// </summary>
    internal void Validate(ICollection<string> failures, string prefix, string name, TimeSpan minInitial, TimeSpan maxInitial, TimeSpan maxMax)
    {
        if (InitialDelay < minInitial || InitialDelay > maxInitial)
        {
            failures.Add($"{prefix}{name}:InitialDelay must be between {Format(minInitial)} and {Format(maxInitial)}; it was {InitialDelay}.");
        }

        if (MaxDelay < InitialDelay || MaxDelay > maxMax)
        {
            failures.Add($"{prefix}{name}:MaxDelay must be at least {name}:InitialDelay ({InitialDelay}) and at most {Format(maxMax)}; it was {MaxDelay}.");
        }
    }

    /// <summary>A bound as the messages write it: <c>00:00:00.001</c> rather than <c>00:00:00.0010000</c>.</summary>
    private static string Format(TimeSpan value)
    {
        string text = value.ToString("c", System.Globalization.CultureInfo.InvariantCulture);
        return text.Contains('.', StringComparison.Ordinal) && text.LastIndexOf('.') > text.LastIndexOf(':') ? text.TrimEnd('0').TrimEnd('.') : text;
    }
}
