namespace StreamLanes;

/// <summary>What a handler knows about the record it handles.</summary>
public readonly struct HandlerContext
{
    /// <summary>Initializes a context.</summary>
    /// <param name="consumerName">The consumer's name.</param>
    /// <param name="record">The record.</param>
    /// <param name="attempt">The attempt number, from 1.</param>
    /// <param name="cancellationToken">Signalled when the attempt times out or the consumer stops.</param>
    public HandlerContext(string consumerName, StreamRecord record, int attempt, CancellationToken cancellationToken)
    {
        ConsumerName = consumerName;
        Record = record;
        Attempt = attempt;
        CancellationToken = cancellationToken;
    }

    /// <summary>The consumer's name.</summary>
    public string ConsumerName { get; }

    /// <summary>The record, with its metadata and raw payload.</summary>
    public StreamRecord Record { get; }

    /// <summary>The attempt number: 1 for the first call, 2 for the first retry, and so on.</summary>
    public int Attempt { get; }

    /// <summary>Signalled when the attempt's timeout passes or the consumer stops; pass it to every awaited call.</summary>
    public CancellationToken CancellationToken { get; }
}
