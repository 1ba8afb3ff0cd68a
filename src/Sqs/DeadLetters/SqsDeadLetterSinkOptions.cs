using StreamLanes.Aws;

namespace StreamLanes.Sqs;

/// <summary>Options of <see cref="SqsDeadLetterSink"/>.</summary>
public sealed class SqsDeadLetterSinkOptions
{
    /// <summary>
    /// The dead-letter queue's URL. Required. A URL ending in <c>.fifo</c> is a FIFO queue: the message group is the
    /// partition key and the deduplication id is derived from the dead letter's identity.
    /// </summary>
    public string QueueUrl { get; set; } = string.Empty;

    /// <summary>
    /// The largest message the sink sends, body and attributes together, in bytes; a larger dead letter goes to S3
    /// (claim check) and the message carries a pointer. It also bounds a whole batch. Default: 262,144 (256 KiB, the
    /// SQS limit before 2025 and still the limit of queues whose <c>MaximumMessageSize</c> was not raised; at most 1,048,576).
    /// </summary>
    public int MaxMessageBytes { get; set; } = 262_144;

    /// <summary>How many dead letters one SendMessageBatch call carries at most (1 to 10). Default: 10.</summary>
    public int MaxBatchSize { get; set; } = 10;

    /// <summary>
    /// How long messages read for redrive stay hidden from other readers unless released (1 second to 12 hours).
    /// Default: 5 minutes.
    /// </summary>
    public TimeSpan ReadVisibilityTimeout { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// How long a redrive read long-polls before it concludes the queue has no more visible messages (0 to 20 seconds).
    /// Default: 1 second.
    /// </summary>
    public int ReadWaitTimeSeconds { get; set; } = 1;

    /// <summary>
    /// Region, endpoint, credentials and transport retries of the SQS client the sink creates (with
    /// <c>UseSqsDeadLetters</c> or the constructor without a client). Default: <see cref="AwsClientOptions"/>' defaults.
    /// </summary>
    public AwsClientOptions Aws { get; set; } = new();

    /// <summary>Checks the options and throws an <see cref="ArgumentException"/> naming each invalid option and its rule.</summary>
    /// <exception cref="ArgumentException">An option is invalid.</exception>
    public void Validate()
    {
        IReadOnlyList<string> failures = Validate(nameof(SqsDeadLetterSinkOptions) + ".");
        if (failures.Count > 0)
        {
            throw new ArgumentException(string.Join(" ", failures));
        }
    }

    /// <summary>
    /// The options' rules, as one failure per invalid option named under <paramref name="prefix"/>: the consumer's
    /// start-up validation passes the configuration path (<c>StreamConsumers:orders:SqsDeadLetters:</c>), <see cref="Validate()"/>
    /// the type's name.
    /// </summary>
    internal IReadOnlyList<string> Validate(string prefix)
    {
        var failures = new List<string>();
        if (!Uri.TryCreate(QueueUrl, UriKind.Absolute, out Uri? url) || (url.Scheme != Uri.UriSchemeHttp && url.Scheme != Uri.UriSchemeHttps))
        {
            failures.Add($"{prefix}{nameof(QueueUrl)} must be an absolute http or https queue URL, not '{QueueUrl}'.");
        }

        if (MaxMessageBytes is < 1024 or > 1_048_576)
        {
            failures.Add($"{prefix}{nameof(MaxMessageBytes)} must be between 1,024 and 1,048,576 bytes, not {MaxMessageBytes}.");
        }

        if (MaxBatchSize is < 1 or > 10)
        {
            failures.Add($"{prefix}{nameof(MaxBatchSize)} must be between 1 and 10, not {MaxBatchSize}.");
        }

        if (ReadVisibilityTimeout < TimeSpan.FromSeconds(1) || ReadVisibilityTimeout > TimeSpan.FromHours(12))
        {
            failures.Add($"{prefix}{nameof(ReadVisibilityTimeout)} must be between 1 second and 12 hours, not {ReadVisibilityTimeout}.");
        }

        if (ReadWaitTimeSeconds is < 0 or > 20)
        {
            failures.Add($"{prefix}{nameof(ReadWaitTimeSeconds)} must be between 0 and 20, not {ReadWaitTimeSeconds}.");
        }

        failures.AddRange(Aws.Validate(prefix + nameof(Aws) + ":"));
        return failures;
    }

    internal SqsDeadLetterSinkOptions Clone() => (SqsDeadLetterSinkOptions)MemberwiseClone();
}
