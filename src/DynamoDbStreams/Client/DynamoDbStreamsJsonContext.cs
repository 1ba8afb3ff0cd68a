using System.Text.Json.Serialization;

namespace StreamLanes.DynamoDbStreams;

// Property names are the APIs' own (PascalCase, or set with JsonPropertyName), so no naming policy applies.
// Absent optional fields are left out, as the services expect.
[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(DynamoDbDescribeStreamRequest))]
[JsonSerializable(typeof(DynamoDbDescribeStreamResponse))]
[JsonSerializable(typeof(DynamoDbListStreamsRequest))]
[JsonSerializable(typeof(DynamoDbListStreamsResponse))]
[JsonSerializable(typeof(DynamoDbGetShardIteratorRequest))]
[JsonSerializable(typeof(DynamoDbGetShardIteratorResponse))]
[JsonSerializable(typeof(DynamoDbGetRecordsRequest))]
[JsonSerializable(typeof(DynamoDbGetRecordsResponse))]
[JsonSerializable(typeof(DynamoDbChangeRecord))]
internal sealed partial class DynamoDbStreamsJsonContext : JsonSerializerContext
{
}
