namespace StreamLanes;

/// <summary>The kind of source a record was read from.</summary>
public enum SourceKind
{
    /// <summary>An <see cref="InMemoryStream"/>.</summary>
    InMemory = 0,

    /// <summary>An Amazon Kinesis data stream.</summary>
    Kinesis = 1,

    /// <summary>A DynamoDB table's stream.</summary>
    DynamoDbStreams = 2,

    /// <summary>An Amazon SQS queue (FIFO or standard).</summary>
    Sqs = 3,
}
