namespace StreamLanes.Kinesis;

/// <summary>
/// One stream of a multi-stream Kinesis source (<see cref="KinesisSourceOptions.Streams"/> or the result of
/// <see cref="KinesisSourceOptions.DiscoverStreams"/>): its name and, optionally, its own starting position and the
/// parts of its KCL stream identifier.
/// </summary>
public sealed class KinesisStreamOptions
{
    /// <summary>The stream's name or ARN. Required; each stream at most once per source.</summary>
    public string StreamName { get; set; } = "";

    /// <summary>Where this stream's shards without a checkpoint start. Default null: the source's <see cref="KinesisSourceOptions.StartingPosition"/>.</summary>
    public KinesisStartingPosition? StartingPosition { get; set; }

    /// <summary>For <see cref="KinesisStartingPosition.AtTimestamp"/>: the timestamp. Default null: the source's <see cref="KinesisSourceOptions.StartingTimestamp"/>.</summary>
    public DateTimeOffset? StartingTimestamp { get; set; }

    /// <summary>
    /// The AWS account id in the stream's lease keys (<c>account-id:stream-name:creation-epoch:shard-id</c>). Default
    /// null: taken from the stream's ARN (DescribeStreamSummary). Set it to take over a KCL table written with another.
    /// 12 digits.
    /// </summary>
    public string? AccountId { get; set; }

    /// <summary>
    /// The creation epoch (seconds since 1970) in the stream's lease keys. Default null: the stream's
    /// <c>StreamCreationTimestamp</c> (DescribeStreamSummary), as KCL applications usually take it. Above zero.
    /// </summary>
    public long? CreationEpoch { get; set; }

    /// <summary>The bare stream name of a name or an ARN (<c>arn:aws:kinesis:region:account:stream/name</c>).</summary>
    internal static string NameOf(string nameOrArn)
    {
        int slash = nameOrArn.StartsWith("arn:", StringComparison.Ordinal) ? nameOrArn.LastIndexOf('/') : -1;
        return slash >= 0 ? nameOrArn[(slash + 1)..] : nameOrArn;
    }

    internal static void Validate(IEnumerable<KinesisStreamOptions?> streams, List<string> failures, string prefix, KinesisStartingPosition sourcePosition, DateTimeOffset? sourceTimestamp)
    {
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        int index = 0;
        foreach (KinesisStreamOptions? stream in streams)
        {
            string at = $"{prefix}Streams:{index++}:";
            if (stream is null || string.IsNullOrWhiteSpace(stream.StreamName))
            {
                failures.Add($"{at}StreamName must be set to the stream's name or ARN.");
                continue;
            }

            string name = NameOf(stream.StreamName);
            seen[name] = seen.GetValueOrDefault(name) + 1;
            if (name.Contains(':', StringComparison.Ordinal))
            {
                failures.Add($"{at}StreamName must be a stream name or a Kinesis stream ARN; '{stream.StreamName}' is neither.");
            }

            if (stream.StartingPosition is { } position && !Enum.IsDefined(position))
            {
                failures.Add($"{at}StartingPosition must be TrimHorizon, Latest or AtTimestamp; it was {position}.");
            }

            if ((stream.StartingPosition ?? sourcePosition) == KinesisStartingPosition.AtTimestamp && (stream.StartingTimestamp ?? sourceTimestamp) is null)
            {
                failures.Add($"{at}StartingTimestamp (or the source's StartingTimestamp) must be set when its StartingPosition is AtTimestamp.");
            }

            if (stream.AccountId is { } account && (account.Length != 12 || !account.All(char.IsAsciiDigit)))
            {
                failures.Add($"{at}AccountId must be 12 digits; it was '{account}'.");
            }

            if (stream.CreationEpoch is <= 0)
            {
                failures.Add($"{at}CreationEpoch must be above zero (seconds since 1970); it was {stream.CreationEpoch}.");
            }
        }

        foreach ((string name, int count) in seen.Where(pair => pair.Value > 1))
        {
            failures.Add($"{prefix}Streams must name each stream once; '{name}' appears {count} times.");
        }
    }
}
