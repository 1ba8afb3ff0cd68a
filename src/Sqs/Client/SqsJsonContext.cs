using System.Text.Json.Serialization;

namespace StreamLanes.Sqs;

// Property names are the APIs' own (PascalCase, or set with JsonPropertyName), so no naming policy applies.
// Absent optional fields are left out, as the services expect.
[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(SqsCreateQueueRequest))]
[JsonSerializable(typeof(SqsQueueUrlResponse))]
[JsonSerializable(typeof(SqsGetQueueUrlRequest))]
[JsonSerializable(typeof(SqsGetQueueAttributesRequest))]
[JsonSerializable(typeof(SqsGetQueueAttributesResponse))]
[JsonSerializable(typeof(SqsSendMessageRequest))]
[JsonSerializable(typeof(SqsSendMessageResponse))]
[JsonSerializable(typeof(SqsSendMessageBatchRequest))]
[JsonSerializable(typeof(SqsSendMessageBatchResponse))]
[JsonSerializable(typeof(SqsReceiveMessageRequest))]
[JsonSerializable(typeof(SqsReceiveMessageResponse))]
[JsonSerializable(typeof(SqsDeleteMessageRequest))]
[JsonSerializable(typeof(SqsDeleteMessageBatchRequest))]
[JsonSerializable(typeof(SqsChangeMessageVisibilityRequest))]
[JsonSerializable(typeof(SqsChangeMessageVisibilityBatchRequest))]
[JsonSerializable(typeof(SqsBatchResponse))]
[JsonSerializable(typeof(SqsQueueUrlRequest))]
internal sealed partial class SqsJsonContext : JsonSerializerContext
{
}
