using System.Text.Json.Serialization;

namespace StreamLanes;

/// <summary>The kind of source a record was read from. Written by name in dead-letter envelopes.</summary>
[JsonConverter(typeof(Sinks.SourceKindJsonConverter))]
public enum SourceKind
{
    /// <summary>An in-memory stream (<c>InMemoryStream</c>), or a dead letter whose source kind this library does not know.</summary>
    InMemory = 0,

    /// <summary>An Amazon Kinesis data stream.</summary>
    Kinesis = 1,

    /// <summary>A DynamoDB table's stream.</summary>
    DynamoDbStreams = 2,

    /// <summary>An Amazon SQS queue (FIFO or standard).</summary>
    Sqs = 3,
}
