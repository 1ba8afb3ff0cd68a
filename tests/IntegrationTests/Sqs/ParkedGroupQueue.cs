using StreamLanes.Aws;
using StreamLanes.TestInfrastructure;

namespace StreamLanes.IntegrationTests.Sqs;

/// <summary>The FIFO queue the parked-group tests put their message groups on, and how they send to it.</summary>
internal static class ParkedGroupQueue
{
    /// <summary>A new FIFO queue (content-based deduplication, 30 s visibility) named after <paramref name="prefix"/>.</summary>
    public static Task<string> CreateAsync(SqsClient client, string prefix)
        => client.CreateQueueAsync(EmulatorFixture.UniqueName(prefix) + ".fifo", new Dictionary<string, string>
        {
            [SqsAttributeNames.FifoQueue] = "true",
            [SqsAttributeNames.ContentBasedDeduplication] = "true",
            [SqsAttributeNames.VisibilityTimeout] = "30",
        });

    /// <summary>Sends each body to its message group, in order.</summary>
    public static async Task SendAsync(SqsClient client, string queue, params (string Group, string Body)[] messages)
    {
        foreach ((string group, string body) in messages)
        {
            await client.SendMessageAsync(new SqsSendMessageRequest { QueueUrl = queue, MessageBody = body, MessageGroupId = group });
        }
    }
}
