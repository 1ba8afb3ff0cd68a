using System.Text;
using Amazon.Extensions.NETCore.Setup;
using Amazon.SQS;
using Amazon.SQS.Model;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using StreamLanes.Engine.Tests.Support;
using StreamLanes.IntegrationTests.Support;
using StreamLanes.Sinks;
using StreamLanes.TestInfrastructure;
using static StreamLanes.IntegrationTests.Support.Eventually;

namespace StreamLanes.IntegrationTests.Sqs;

/// <summary>The SQS source takes the user's AWS SDK setup from DI, the .NET way.</summary>
[Collection(EmulatorCollections.Sqs)]
public sealed class SqsClientFromDiTests(SqsEmulatorFixture emulator) : IDisposable
{
    private readonly SqsClient _client = emulator.CreateSqsClient();

    public void Dispose() => _client.Dispose();

    [Fact]
    public async Task A_consumer_wired_only_through_AddDefaultAWSOptions_and_AddAWSService_reads_the_queue_in_key_order()
    {
        string queue = await _client.CreateQueueAsync(EmulatorFixture.UniqueName("di") + ".fifo", new Dictionary<string, string>
        {
            [SqsAttributeNames.FifoQueue] = "true",
            [SqsAttributeNames.ContentBasedDeduplication] = "true",
        });
        List<(string Group, int Index)> sent = await SendAsync(queue, 30);

        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["AWS:Region"] = EmulatorFixture.Region,
            ["AWS:ServiceURL"] = emulator.ServiceUrl.ToString(),
            ["AWS:AuthenticationRegion"] = EmulatorFixture.Region,
        }).Build();
        AWSOptions awsOptions = configuration.GetAWSOptions();
        awsOptions.Credentials = EmulatorFixture.TestCredentials;

        var handler = new RecordingHandler();
        HostApplicationBuilder builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddSingleton(handler);
        builder.Services.AddDefaultAWSOptions(awsOptions);
        builder.Services.AddAWSService<IAmazonSQS>();

        // No AwsClientOptions at all: the queue URL and the client come from the user's AWS setup.
        builder.Services.AddStreamConsumer<RecordingHandler>("orders").FromSqs(queue, o => o.WaitTime = TimeSpan.FromSeconds(1)).UseDeadLetterSink(new InMemoryDeadLetterSink());
        using IHost host = builder.Build();

        await host.StartAsync();
        await WaitUntilAsync(() => handler.Successes.Count() >= sent.Count, TimeSpan.FromSeconds(60), () => $"{handler.Successes.Count()}/{sent.Count}");
        await host.StopAsync();

        var handled = handler.Successes.Select(c => Encoding.UTF8.GetString(c.Record.Data.Span)).ToList();
        Assert.Equal(sent.Select(s => $"{s.Group}/{s.Index}").Order(), handled.Order());
        foreach (var group in handler.Successes.GroupBy(c => c.Record.PartitionKey))
        {
            var indexes = group.OrderBy(c => c.StartedTicks).Select(c => int.Parse(Encoding.UTF8.GetString(c.Record.Data.Span).Split('/')[1])).ToList();
            Assert.Equal(indexes.Order(), indexes);
        }
    }

    [Fact]
    public async Task A_registered_IAmazonSQS_is_the_one_used_and_is_not_disposed_at_stop()
    {
        string queue = await _client.CreateQueueAsync(EmulatorFixture.UniqueName("di-own") + ".fifo", new Dictionary<string, string>
        {
            [SqsAttributeNames.FifoQueue] = "true",
            [SqsAttributeNames.ContentBasedDeduplication] = "true",
        });
        List<(string Group, int Index)> sent = await SendAsync(queue, 10);
        using var counting = new CountingSqsClient(_client.Sdk.Config as AmazonSQSConfig ?? throw new InvalidOperationException("config"));

        var handler = new RecordingHandler();
        HostApplicationBuilder builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddSingleton(handler);
        builder.Services.AddSingleton<IAmazonSQS>(counting);
        builder.Services.AddStreamConsumer<RecordingHandler>("orders").FromSqs(queue, o => o.WaitTime = TimeSpan.FromSeconds(1)).UseDeadLetterSink(new InMemoryDeadLetterSink());
        IHost host = builder.Build();

        await host.StartAsync();
        await WaitUntilAsync(() => handler.Successes.Count() >= sent.Count, TimeSpan.FromSeconds(60), () => $"{handler.Successes.Count()}/{sent.Count}");
        await host.StopAsync();
        host.Dispose();

        Assert.True(counting.Receives > 0, "the registered client received nothing");
        Assert.True(counting.Deletes > 0, "the registered client deleted nothing");
        Assert.False(counting.Disposed, "StreamLanes disposed a client it does not own");

        // Still usable by its owner after the consumer stopped.
        var after = await counting.GetQueueAttributesAsync(new GetQueueAttributesRequest { QueueUrl = queue, AttributeNames = ["All"] });
        Assert.Equal("0", after.Attributes[SqsAttributeNames.ApproximateNumberOfMessages]);
    }

    private async Task<List<(string Group, int Index)>> SendAsync(string queue, int count)
    {
        var sent = new List<(string Group, int Index)>();
        for (int i = 0; i < count; i++)
        {
            var item = ($"g-{i % 3}", i);
            sent.Add(item);
            await _client.SendMessageAsync(new SqsSendMessageRequest { QueueUrl = queue, MessageBody = $"{item.Item1}/{item.i}", MessageGroupId = item.Item1 });
        }

        return sent;
    }

    private sealed class CountingSqsClient(AmazonSQSConfig config) : AmazonSQSClient(EmulatorFixture.TestCredentials, config)
    {
        private int _receives;
        private int _deletes;

        public int Receives => Volatile.Read(ref _receives);

        public int Deletes => Volatile.Read(ref _deletes);

        public bool Disposed { get; private set; }

        public override Task<ReceiveMessageResponse> ReceiveMessageAsync(ReceiveMessageRequest request, CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref _receives);
            return base.ReceiveMessageAsync(request, cancellationToken);
        }

        public override Task<DeleteMessageBatchResponse> DeleteMessageBatchAsync(DeleteMessageBatchRequest request, CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref _deletes);
            return base.DeleteMessageBatchAsync(request, cancellationToken);
        }

        protected override void Dispose(bool disposing)
        {
            Disposed = true;
            base.Dispose(disposing);
        }
    }
}
