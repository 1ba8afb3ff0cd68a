using System.Text.Json.Serialization;

namespace StreamLanes.Kinesis;

// Property names are the APIs' own (PascalCase, or set with JsonPropertyName), so no naming policy applies.
// Absent optional fields are left out, as the services expect.
[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(KinesisCreateStreamRequest))]
[JsonSerializable(typeof(KinesisDeleteStreamRequest))]
[JsonSerializable(typeof(KinesisDescribeStreamSummaryRequest))]
[JsonSerializable(typeof(KinesisDescribeStreamSummaryResponse))]
[JsonSerializable(typeof(KinesisListShardsRequest))]
[JsonSerializable(typeof(KinesisListShardsResponse))]
[JsonSerializable(typeof(KinesisGetShardIteratorRequest))]
[JsonSerializable(typeof(KinesisGetShardIteratorResponse))]
[JsonSerializable(typeof(KinesisGetRecordsRequest))]
[JsonSerializable(typeof(KinesisGetRecordsResponse))]
[JsonSerializable(typeof(KinesisPutRecordRequest))]
[JsonSerializable(typeof(KinesisPutRecordResponse))]
[JsonSerializable(typeof(KinesisPutRecordsRequest))]
[JsonSerializable(typeof(KinesisPutRecordsResponse))]
[JsonSerializable(typeof(KinesisSplitShardRequest))]
[JsonSerializable(typeof(KinesisMergeShardsRequest))]
[JsonSerializable(typeof(KinesisStreamConsumerRequest))]
[JsonSerializable(typeof(KinesisRegisterStreamConsumerResponse))]
[JsonSerializable(typeof(KinesisDescribeStreamConsumerResponse))]
[JsonSerializable(typeof(KinesisSubscribeToShardRequest))]
[JsonSerializable(typeof(KinesisSubscribeToShardEvent))]
internal sealed partial class KinesisJsonContext : JsonSerializerContext
{
}
