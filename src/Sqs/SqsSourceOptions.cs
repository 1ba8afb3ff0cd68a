using StreamLanes.Aws;
using StreamLanes.S3;

namespace StreamLanes.Sqs;

/// <summary>
/// How a consumer reads an SQS queue (FIFO or standard). Bound from <c>StreamConsumers:&lt;name&gt;:Sqs</c>.
/// </summary>
[RenamedOption("ReceiveBackoff", "ReceiveRetry:InitialDelay")]
[RenamedOption("MaxReceiveBackoff", "ReceiveRetry:MaxDelay")]
public sealed class SqsSourceOptions
{
    /// <summary>The queue's URL, or its name (then its URL is looked up at start). Required.</summary>
    public string Queue { get; set; } = "";

    /// <summary>
    /// Standard queues only: the message attribute whose string value is a message's partition key, so that messages
    /// with the same value are handled one at a time, in the order received. Default <see langword="null"/>: every
    /// message is its own key. FIFO queues always use the message group id and must leave this unset.
    /// </summary>
    public string? PartitionKeyAttribute { get; set; }

    /// <summary>Receive loops running concurrently, each long-polling the queue. Default 2; 1 to 50.</summary>
    public int Receivers { get; set; } = 2;

    /// <summary>Messages asked for per ReceiveMessage call. Default 10; 1 to 10.</summary>
    public int MaxMessagesPerReceive { get; set; } = 10;

    /// <summary>
    /// How long a receive waits for messages (long polling). Default 20 s; 0 to 20 s, whole seconds. Also bounds a
    /// graceful stop: the polls in flight when it begins are allowed to return (at most this long, plus a few seconds'
    /// grace) so that no message SQS hands them stays hidden; lower it for faster stops, at the cost of more empty receives.
    /// </summary>
    public TimeSpan WaitTime { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>
    /// How long a received message stays hidden from other consumers; set on each receive, and renewed by the
    /// heartbeat while the message is handled or retried. Also how long a message of a crashed worker waits before it
    /// is received again. Default 30 s; 2 s to 12 h, whole seconds.
    /// </summary>
    public TimeSpan VisibilityTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How often the heartbeat renews the visibility of messages still in flight. Default <see langword="null"/>: a
    /// third of <see cref="VisibilityTimeout"/>. At least 500 ms and less than half of <see cref="VisibilityTimeout"/>.
    /// </summary>
    public TimeSpan? HeartbeatInterval { get; set; }

    /// <summary>
    /// The longest a message is kept hidden, counted from its receipt: past it the heartbeat stops renewing it, and it
    /// becomes visible again (and may be received a second time) while its handler still runs. Default 1 h; at least
    /// <see cref="VisibilityTimeout"/>, at most 12 h (the SQS limit).
    /// </summary>
    public TimeSpan MaxVisibilityHold { get; set; } = TimeSpan.FromHours(1);

    /// <summary>
    /// The waits after a failed receive, which is retried until it succeeds (keys <c>ReceiveRetry:InitialDelay</c> and
    /// <c>ReceiveRetry:MaxDelay</c>, formerly <c>ReceiveBackoff</c> and <c>MaxReceiveBackoff</c>): the first about
    /// <see cref="BackoffOptions.InitialDelay"/> (default 500 ms; 0 to 1 minute), each next one doubling (with jitter) up
    /// to <see cref="BackoffOptions.MaxDelay"/> (default 30 s; at most 10 minutes).
    /// </summary>
    public BackoffOptions ReceiveRetry { get; set; } = BackoffOptions.Of(TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(30));

    /// <summary>
    /// Whether a message marked as a StreamLanes dead letter (the SQS dead-letter sink's <c>streamlanes.envelope</c>
    /// attribute), i.e. one moved back by SQS's DLQ redrive, is handed to the handler as the original record it holds.
    /// Default <see langword="true"/>; <see langword="false"/> hands it over as it is (the envelope's JSON), for a
    /// consumer that reads a dead-letter queue itself.
    /// </summary>
    public bool UnwrapDeadLetters { get; set; } = true;

    /// <summary>
    /// Where redriven dead letters that the SQS dead-letter sink stored in S3 are loaded from: the sink's own
    /// <see cref="S3ClaimCheck"/>. Set in code only; when it is not set, the consumer's <c>UseS3ClaimCheck</c> claim check (if any). Default <see langword="null"/>: such a message (one moved back to
    /// this queue by SQS's DLQ redrive) is not handled, the consumer reports itself unhealthy, and the message returns to
    /// the queue after its visibility timeout.
    /// </summary>
    public S3ClaimCheck? ClaimCheck { get; set; }

    /// <summary>The HTTP transport to SQS: region, endpoint, credentials, transport retries.</summary>
    public AwsClientOptions Aws { get; set; } = new();

    /// <summary>The heartbeat interval in effect.</summary>
    internal TimeSpan EffectiveHeartbeatInterval => HeartbeatInterval ?? VisibilityTimeout / 3;

    /// <summary>Whether <see cref="Queue"/> is a URL rather than a name.</summary>
    internal bool QueueIsUrl => Queue.StartsWith("http://", StringComparison.OrdinalIgnoreCase) || Queue.StartsWith("https://", StringComparison.OrdinalIgnoreCase);

    /// <summary>The queue's name: the last path segment of a URL, or <see cref="Queue"/> itself.</summary>
    internal string QueueName => QueueIsUrl ? Queue.TrimEnd('/')[(Queue.TrimEnd('/').LastIndexOf('/') + 1)..] : Queue;

    /// <summary>Whether the queue is a FIFO queue (its name ends in <c>.fifo</c>).</summary>
    internal bool IsFifo => QueueName.EndsWith(".fifo", StringComparison.Ordinal);

    /// <summary>Checks the options, naming each invalid one and its rule.</summary>
    /// <param name="prefix">The configuration path of these options, for messages.</param>
    /// <returns>The failures; empty when valid.</returns>
    public IReadOnlyList<string> Validate(string prefix)
    {
        var failures = new List<string>();
        if (string.IsNullOrWhiteSpace(Queue))
        {
            failures.Add($"{prefix}Queue must be set to the queue's URL or name.");
        }
        else if (IsFifo && PartitionKeyAttribute is not null)
        {
            failures.Add($"{prefix}PartitionKeyAttribute must not be set for a FIFO queue ({QueueName}): its messages are keyed by MessageGroupId.");
        }

        if (PartitionKeyAttribute is not null && string.IsNullOrWhiteSpace(PartitionKeyAttribute))
        {
            failures.Add($"{prefix}PartitionKeyAttribute must be null or a message attribute name; it was blank.");
        }

        if (Receivers is < 1 or > 50)
        {
            failures.Add($"{prefix}Receivers must be between 1 and 50; it was {Receivers}.");
        }

        if (MaxMessagesPerReceive is < 1 or > 10)
        {
            failures.Add($"{prefix}MaxMessagesPerReceive must be between 1 and 10; it was {MaxMessagesPerReceive}.");
        }

        if (WaitTime < TimeSpan.Zero || WaitTime > TimeSpan.FromSeconds(20) || WaitTime.Ticks % TimeSpan.TicksPerSecond != 0)
        {
            failures.Add($"{prefix}WaitTime must be whole seconds between 00:00:00 and 00:00:20; it was {WaitTime}.");
        }

        bool visibilityValid = VisibilityTimeout >= TimeSpan.FromSeconds(2) && VisibilityTimeout <= TimeSpan.FromHours(12) && VisibilityTimeout.Ticks % TimeSpan.TicksPerSecond == 0;
        if (!visibilityValid)
        {
            failures.Add($"{prefix}VisibilityTimeout must be whole seconds between 00:00:02 and 12:00:00; it was {VisibilityTimeout}.");
        }

        if (HeartbeatInterval is TimeSpan heartbeat && visibilityValid && (heartbeat < TimeSpan.FromMilliseconds(500) || heartbeat >= VisibilityTimeout / 2))
        {
            failures.Add($"{prefix}HeartbeatInterval must be at least 00:00:00.5 and less than half of VisibilityTimeout ({VisibilityTimeout}); it was {heartbeat}.");
        }

        if (MaxVisibilityHold < VisibilityTimeout || MaxVisibilityHold > TimeSpan.FromHours(12))
        {
            failures.Add($"{prefix}MaxVisibilityHold must be at least VisibilityTimeout ({VisibilityTimeout}) and at most 12:00:00 (the SQS limit); it was {MaxVisibilityHold}.");
        }

        SourceSetup.ValidateBackoff(failures, prefix, nameof(ReceiveRetry), ReceiveRetry);

        failures.AddRange(Aws.Validate($"{prefix}Aws:"));
        return failures;
    }
}
