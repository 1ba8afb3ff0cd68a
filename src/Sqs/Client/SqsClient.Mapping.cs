using Amazon.Runtime;
using Amazon.SQS.Model;

namespace StreamLanes.Sqs;

/// <summary>Mapping between the SDK's message shapes and the project's immutable ones.</summary>
internal sealed partial class SqsClient
{
    private static Dictionary<string, MessageAttributeValue>? ToSdk(IReadOnlyDictionary<string, SqsMessageAttributeValue>? attributes)
    {
        if (attributes is not { Count: > 0 })
        {
            return null;
        }

        var result = new Dictionary<string, MessageAttributeValue>(attributes.Count, StringComparer.Ordinal);
        foreach (var (name, value) in attributes)
        {
            result[name] = new MessageAttributeValue
            {
                DataType = value.DataType,
                StringValue = value.StringValue,
                BinaryValue = value.BinaryValue is { } binary ? new MemoryStream(binary.ToArray(), writable: false) : null,
            };
        }

        return result;
    }

    private static SqsMessage FromSdk(Message message)
    {
        Dictionary<string, SqsMessageAttributeValue>? attributes = null;
        if (message.MessageAttributes is { Count: > 0 } sdkAttributes)
        {
            attributes = new Dictionary<string, SqsMessageAttributeValue>(sdkAttributes.Count, StringComparer.Ordinal);
            foreach (var (name, value) in sdkAttributes)
            {
                attributes[name] = new SqsMessageAttributeValue
                {
                    DataType = value.DataType,
                    StringValue = value.StringValue,
                    BinaryValue = value.BinaryValue is { } stream ? ReadAll(stream) : null,
                };
            }
        }

        return new SqsMessage
        {
            MessageId = message.MessageId,
            ReceiptHandle = message.ReceiptHandle,
            Md5OfBody = message.MD5OfBody,
            Body = message.Body,
            Attributes = message.Attributes ?? [],
            Md5OfMessageAttributes = message.MD5OfMessageAttributes,
            MessageAttributes = attributes!,
        };
    }

    private static ReadOnlyMemory<byte> ReadAll(MemoryStream stream) =>
        stream.TryGetBuffer(out var buffer) ? buffer.AsMemory() : stream.ToArray();

    /// <summary>Makes the SDK send through a given <see cref="HttpClient"/> (tests inject faults this way); the caller owns it.</summary>
    private sealed class FixedHttpClientFactory(HttpClient httpClient) : HttpClientFactory
    {
        public override HttpClient CreateHttpClient(IClientConfig clientConfig) => httpClient;

        public override bool UseSDKHttpClientCaching(IClientConfig clientConfig) => false;

        public override bool DisposeHttpClientsAfterUse(IClientConfig clientConfig) => false;
    }
}
