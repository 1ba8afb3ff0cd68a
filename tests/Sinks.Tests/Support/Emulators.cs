using Amazon.S3;
using StreamLanes.Aws;
using StreamLanes.TestInfrastructure;

namespace StreamLanes.Sinks.Tests.Support;

[CollectionDefinition(EmulatorCollections.Sqs)]
public sealed class SqsEmulatorGroup : ICollectionFixture<SqsEmulatorFixture>;

[CollectionDefinition(EmulatorCollections.DynamoDb)]
public sealed class DynamoDbEmulatorGroup : ICollectionFixture<DynamoDbEmulatorFixture>, ICollectionFixture<SqsEmulatorFixture>;

/// <summary>Clients for fauxqs (SQS and S3 on one port) with optional fault injection.</summary>
internal static class AwsTestClients
{
    public static SqsClient Sqs(EmulatorFixture emulator, HttpMessageHandler? handler = null)
    {
        AwsClientOptions options = emulator.CreateClientOptions();
        options.MaxTransportRetries = 1;
        options.TransportRetry.InitialDelay = TimeSpan.FromMilliseconds(10);
        options.TransportRetry.MaxDelay = TimeSpan.FromMilliseconds(50);
        return handler is null ? new SqsClient(options) : new SqsClient(options, new HttpClient(handler));
    }

    public static AmazonS3Client S3(EmulatorFixture emulator) => new(
        EmulatorFixture.TestCredentials,
        new AmazonS3Config { ServiceURL = emulator.ServiceUrl.ToString(), ForcePathStyle = true, AuthenticationRegion = EmulatorFixture.Region, MaxErrorRetry = 1 });

    public static async Task<S3ClaimCheck> ClaimCheckAsync(IAmazonS3 s3)
    {
        string bucket = EmulatorFixture.UniqueName("dlq").ToLowerInvariant();
        await s3.PutBucketAsync(bucket);
        return new S3ClaimCheck(s3, new S3ClaimCheckOptions { BucketName = bucket });
    }

    public static async Task<string> QueueAsync(SqsClient sqs, bool fifo)
    {
        string name = EmulatorFixture.UniqueName("dlq") + (fifo ? ".fifo" : string.Empty);
        return await sqs.CreateQueueAsync(name, fifo ? new Dictionary<string, string> { [SqsAttributeNames.FifoQueue] = "true" } : null);
    }

    /// <summary>
    /// Every message in a queue: read and made visible again, or for a FIFO queue (which shows a group's next message
    /// only once the one before is deleted) read and deleted.
    /// </summary>
    public static async Task<List<SqsMessage>> PeekAllAsync(SqsClient sqs, string queueUrl)
    {
        bool fifo = queueUrl.EndsWith(".fifo", StringComparison.Ordinal);
        var all = new List<SqsMessage>();
        while (true)
        {
            IReadOnlyList<SqsMessage> batch = await sqs.ReceiveMessagesAsync(new SqsReceiveMessageRequest
            {
                QueueUrl = queueUrl,
                MaxNumberOfMessages = 10,
                WaitTimeSeconds = 1,
                VisibilityTimeout = 60,
                MessageAttributeNames = ["All"],
                MessageSystemAttributeNames = ["All"],
            });
            if (batch.Count == 0)
            {
                break;
            }

            all.AddRange(batch);
            if (fifo)
            {
                foreach (SqsMessage message in batch)
                {
                    await sqs.DeleteMessageAsync(queueUrl, message.ReceiptHandle);
                }
            }
        }

        if (!fifo)
        {
            foreach (SqsMessage message in all)
            {
                await sqs.ChangeMessageVisibilityAsync(queueUrl, message.ReceiptHandle, 0);
            }
        }

        return all;
    }
}
