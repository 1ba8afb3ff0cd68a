using System.Diagnostics;
using Amazon.S3;
using Amazon.S3.Model;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using StreamLanes.Sinks.Tests.Support;
using StreamLanes.TestInfrastructure;

namespace StreamLanes.Sinks.Tests.Sqs;

/// <summary><c>UseSqsDeadLetters</c> and <c>UseS3ClaimCheck</c> build their sink and claim check from the consumer's configuration sections.</summary>
[Collection(EmulatorCollections.Sqs)]
public sealed class SqsDeadLetterBuilderTests(SqsEmulatorFixture emulator)
{
    private sealed class PoisonHandler : IStreamHandler<ReadOnlyMemory<byte>>
    {
        public ValueTask HandleAsync(ReadOnlyMemory<byte> message, HandlerContext context)
            => context.Record.PartitionKey.StartsWith("poison", StringComparison.Ordinal)
                ? throw new InvalidOperationException("poison")
                : ValueTask.CompletedTask;
    }

    [Fact]
    public async Task Dead_letters_go_to_the_queue_and_the_bucket_named_in_the_consumers_configuration_sections()
    {
        using SqsClient sqs = AwsTestClients.Sqs(emulator);
        using AmazonS3Client s3 = AwsTestClients.S3(emulator);
        string queue = await AwsTestClients.QueueAsync(sqs, fifo: false);
        string bucket = EmulatorFixture.UniqueName("dlq-builder").ToLowerInvariant();
        await s3.PutBucketAsync(bucket);

        var stream = new InMemoryStream("orders", shardCount: 1);
        HostApplicationBuilder builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["StreamConsumers:orders:MaxAttempts"] = "1",
            ["StreamConsumers:orders:SqsDeadLetters:QueueUrl"] = queue,
            ["StreamConsumers:orders:SqsDeadLetters:MaxMessageBytes"] = "2048",
            ["StreamConsumers:orders:S3ClaimCheck:BucketName"] = bucket,
            ["StreamConsumers:orders:S3ClaimCheck:KeyPrefix"] = "from-configuration/",
        });
        builder.Services.AddStreamConsumer<PoisonHandler>("orders")
            .FromInMemory(stream)
            .UseInMemoryCheckpoints()
            .UseSqsDeadLetters(configure: o => o.Aws = emulator.CreateClientOptions()) // credentials are never read from configuration
            .UseS3ClaimCheck(configure: o => o.Aws = emulator.CreateClientOptions());
        using IHost host = builder.Build();
        await host.StartAsync();

        stream.Put("poison-small", "{\"n\":1}");
        stream.Put("fine", "{\"n\":2}");
        stream.Put("poison-big", "{\"text\":\"" + new string('x', 4096) + "\"}");

        // Both dead letters arrive within the bound (a busy CI machine included); none is lost.
        var clock = Stopwatch.StartNew();
        List<SqsMessage> messages = [];
        while (clock.Elapsed < TimeSpan.FromSeconds(60))
        {
            messages = await AwsTestClients.PeekAllAsync(sqs, queue);
            if (messages.Count >= 2)
            {
                break;
            }
        }

        await host.StopAsync();

        Assert.Equal(2, messages.Count);
        SqsMessage small = Assert.Single(messages, m => !m.MessageAttributes.ContainsKey(SqsDeadLetterSink.ClaimCheckAttribute));
        DeadLetterEnvelope envelope = DeadLetterEnvelopeSerializer.Deserialize(System.Text.Encoding.UTF8.GetBytes(small.Body));
        Assert.Equal("poison-small", envelope.PartitionKey);
        Assert.Equal(SourceKind.InMemory, envelope.SourceKind);
        Assert.Equal("{\"n\":1}"u8.ToArray(), envelope.Payload.ToArray());

        SqsMessage big = Assert.Single(messages, m => m.MessageAttributes.ContainsKey(SqsDeadLetterSink.ClaimCheckAttribute));
        Assert.Equal("s3", big.MessageAttributes[SqsDeadLetterSink.ClaimCheckAttribute].StringValue);
        ListObjectsV2Response objects = await s3.ListObjectsV2Async(new ListObjectsV2Request { BucketName = bucket });
        S3Object stored = Assert.Single(objects.S3Objects);
        Assert.StartsWith("from-configuration/", stored.Key, StringComparison.Ordinal);
    }
}
