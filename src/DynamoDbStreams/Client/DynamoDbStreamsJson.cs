using System.Text.Json;

namespace StreamLanes.DynamoDbStreams;

/// <summary>
/// A DynamoDB stream record in the service's own JSON shape (<c>eventID</c>, <c>eventName</c>, <c>dynamodb</c> with
/// <c>Keys</c>, <c>NewImage</c>, <c>OldImage</c> in DynamoDB JSON), as stored in a record's payload and dead letters.
/// </summary>
internal static class DynamoDbStreamsJson
{
    /// <summary>Writes a record as UTF-8 JSON in the service's shape.</summary>
    /// <param name="record">The record.</param>
    /// <returns>The JSON bytes.</returns>
    public static byte[] Serialize(DynamoDbChangeRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        return JsonSerializer.SerializeToUtf8Bytes(record, DynamoDbStreamsJsonContext.Default.DynamoDbChangeRecord);
    }

    /// <summary>Reads a record written by <see cref="Serialize"/> or returned by GetRecords.</summary>
    /// <param name="utf8Json">The JSON bytes.</param>
    /// <returns>The record.</returns>
    /// <exception cref="JsonException">The bytes are not a stream record.</exception>
    public static DynamoDbChangeRecord Deserialize(ReadOnlySpan<byte> utf8Json)
        => JsonSerializer.Deserialize(utf8Json, DynamoDbStreamsJsonContext.Default.DynamoDbChangeRecord)
            ?? throw new JsonException("The JSON is null, not a DynamoDB stream record.");
}
