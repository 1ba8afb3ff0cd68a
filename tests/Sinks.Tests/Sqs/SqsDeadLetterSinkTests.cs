using System.Text.Json;
using Amazon.S3;
using StreamLanes.Aws;
using StreamLanes.Sinks.Tests.Contract;
using StreamLanes.Sinks.Tests.Envelope;
using StreamLanes.Sinks.Tests.Support;
using StreamLanes.TestInfrastructure;

namespace StreamLanes.Sinks.Tests.Aws;

[Collection(EmulatorCollections.Sqs)]
public sealed class SqsStandardDeadLetterSinkContractTests(SqsEmulatorFixture emulator) : DeadLetterStoreContractTests, IAsyncLifetime
{
    private SqsClient _sqs = null!;
    private SqsDeadLetterSink _sink = null!;

    protected override IDeadLetterSink CreateSink() => _sink;

    public async Task InitializeAsync()
    {
        _sqs = AwsTestClients.Sqs(emulator);
        _sink = new SqsDeadLetterSink(_sqs, new SqsDeadLetterSinkOptions { QueueUrl = await AwsTestClients.QueueAsync(_sqs, fifo: false), ReadVisibilityTimeout = TimeSpan.FromSeconds(30) });
    }

    public async Task DisposeAsync()
    {
        await _sink.DisposeAsync();
        _sqs.Dispose();
    }
}

[Collection(EmulatorCollections.Sqs)]
public sealed class SqsFifoDeadLetterSinkContractTests(SqsEmulatorFixture emulator) : DeadLetterStoreContractTests, IAsyncLifetime
{
    private SqsClient _sqs = null!;
    private SqsDeadLetterSink _sink = null!;

    protected override IDeadLetterSink CreateSink() => _sink;

    public async Task InitializeAsync()
    {
        _sqs = AwsTestClients.Sqs(emulator);
        _sink = new SqsDeadLetterSink(_sqs, new SqsDeadLetterSinkOptions { QueueUrl = await AwsTestClients.QueueAsync(_sqs, fifo: true), ReadVisibilityTimeout = TimeSpan.FromSeconds(30) });
    }

    public async Task DisposeAsync()
    {
        await _sink.DisposeAsync();
        _sqs.Dispose();
    }
}

[Collection(EmulatorCollections.Sqs)]
public sealed class SqsDeadLetterSinkTests(SqsEmulatorFixture emulator)
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Text_binary_and_a_payload_over_the_SQS_limit_round_trip_byte_for_byte_the_large_one_through_S3(bool fifo)
    {
        using SqsClient sqs = AwsTestClients.Sqs(emulator);
        using AmazonS3Client s3 = AwsTestClients.S3(emulator);
        S3ClaimCheck claimCheck = await AwsTestClients.ClaimCheckAsync(s3);
        string queue = await AwsTestClients.QueueAsync(sqs, fifo);
        await using var sink = new SqsDeadLetterSink(sqs, new SqsDeadLetterSinkOptions { QueueUrl = queue }, claimCheck);

        byte[] text = "{\"orderId\":42,\"note\":\"ünïcødé\"}"u8.ToArray();
        byte[] binary = [.. Enumerable.Range(0, 256).Select(i => (byte)i)];
        byte[] large = new byte[300_000];
        new Random(7).NextBytes(large);
        await sink.WriteAsync(DeadLetterEnvelopeTests.Sample(text, "text", "1"), default);
        await sink.WriteAsync(DeadLetterEnvelopeTests.Sample(binary, "binary", "2"), default);
        await sink.WriteAsync(DeadLetterEnvelopeTests.Sample(large, "large", "3"), default);

        // The large one is a pointer in the queue, filterable by its attributes without reading S3 (peeked through a
        // second, identical queue's copy for FIFO, where peeking deletes).
        List<SqsMessage> raw = await PeekThroughCopyAsync(sqs, claimCheck, fifo, text, binary, large) ?? await AwsTestClients.PeekAllAsync(sqs, queue);
        Assert.Equal(3, raw.Count);
        SqsMessage pointer = raw.Single(m => m.MessageAttributes[SqsDeadLetterSink.PartitionKeyAttribute].StringValue == "large");
        Assert.Equal("s3", pointer.MessageAttributes[SqsDeadLetterSink.ClaimCheckAttribute].StringValue);
        Assert.True(pointer.Body.Length < 1000);
        Assert.Equal("RetriesExhausted", pointer.MessageAttributes[SqsDeadLetterSink.ReasonAttribute].StringValue);
        Assert.Equal("orders", pointer.MessageAttributes[SqsDeadLetterSink.ConsumerAttribute].StringValue);
        Assert.Equal(typeof(InvalidOperationException).FullName, pointer.MessageAttributes[SqsDeadLetterSink.ExceptionTypeAttribute].StringValue);
        if (fifo)
        {
            Assert.Equal(["binary", "large", "text"], raw.Select(m => m.MessageGroupId).Order());
        }

        var redriver = new DeadLetterRedriver(sink);
        IReadOnlyList<DeadLetterEnvelope> read = await redriver.ListAsync();
        Assert.Equal(text, read.Single(e => e.PartitionKey == "text").Payload.ToArray());
        Assert.Equal(binary, read.Single(e => e.PartitionKey == "binary").Payload.ToArray());
        Assert.Equal(large, read.Single(e => e.PartitionKey == "large").Payload.ToArray());

        // Purging the large one deletes its S3 object too.
        string key = JsonDocument.Parse(pointer.Body).RootElement.GetProperty("key").GetString()!;
        DeadLetterRedriveReport purge = await redriver.PurgeAsync(new DeadLetterRedriveOptions { Filter = new DeadLetterFilter { PartitionKey = "large" } });
        Assert.Equal(1, purge.Counts[DeadLetterOutcome.Purged]);
        await Assert.ThrowsAnyAsync<AmazonS3Exception>(() => s3.GetObjectAsync(claimCheck.BucketName, key));
        Assert.Equal(2, (await redriver.ListAsync()).Count);
    }

    private static async Task<List<SqsMessage>?> PeekThroughCopyAsync(SqsClient sqs, S3ClaimCheck claimCheck, bool fifo, byte[] text, byte[] binary, byte[] large)
    {
        if (!fifo)
        {
            return null;
        }

        string copy = await AwsTestClients.QueueAsync(sqs, fifo: true);
        await using var sink = new SqsDeadLetterSink(sqs, new SqsDeadLetterSinkOptions { QueueUrl = copy }, claimCheck);
        await sink.WriteAsync(DeadLetterEnvelopeTests.Sample(text, "text", "1"), default);
        await sink.WriteAsync(DeadLetterEnvelopeTests.Sample(binary, "binary", "2"), default);
        await sink.WriteAsync(DeadLetterEnvelopeTests.Sample(large, "large", "3"), default);
        return await AwsTestClients.PeekAllAsync(sqs, copy);
    }

    [Fact]
    public async Task Without_a_claim_check_an_oversized_dead_letter_fails_with_a_message_naming_the_option()
    {
        using SqsClient sqs = AwsTestClients.Sqs(emulator);
        await using var sink = new SqsDeadLetterSink(sqs, new SqsDeadLetterSinkOptions { QueueUrl = await AwsTestClients.QueueAsync(sqs, false) });
        InvalidOperationException error = await Assert.ThrowsAsync<InvalidOperationException>(async () =>
            await sink.WriteAsync(DeadLetterEnvelopeTests.Sample(new byte[300_000]), default));
        Assert.Contains("MaxMessageBytes", error.Message);
    }

    [Fact]
    public async Task Concurrent_writes_are_batched_up_to_ten_and_only_failed_entries_fail()
    {
        var faults = new FaultInjectingHandler { FailEntriesContaining = "\"partitionKey\":\"poison\"" };
        using SqsClient sqs = AwsTestClients.Sqs(emulator, faults);
        string queue = await AwsTestClients.QueueAsync(sqs, fifo: false);
        await using var sink = new SqsDeadLetterSink(sqs, new SqsDeadLetterSinkOptions { QueueUrl = queue });

        Task[] writes = [.. Enumerable.Range(0, 40).Select(i => sink.WriteAsync(DeadLetterEnvelopeTests.Sample([(byte)i], i == 17 ? "poison" : $"k{i}", $"{i + 1}"), default).AsTask())];
        await Assert.ThrowsAsync<AwsServiceException>(() => Task.WhenAll(writes));
        Assert.Equal(1, writes.Count(static w => w.IsFaulted));
        Assert.All(faults.BatchSizes, size => Assert.InRange(size, 1, 10));
        Assert.True(faults.SendBatchCalls < 40, $"expected batching, saw {faults.SendBatchCalls} calls for 40 writes");

        // Only the failed entry is retried (by the engine): the queue ends with each dead letter exactly once.
        faults.FailEntriesContaining = null;
        await sink.WriteAsync(DeadLetterEnvelopeTests.Sample([17], "poison", "18"), default);
        List<SqsMessage> messages = await AwsTestClients.PeekAllAsync(sqs, queue);
        Assert.Equal(40, messages.Count);
        Assert.Equal(40, messages.Select(m => m.MessageAttributes[SqsDeadLetterSink.PartitionKeyAttribute].StringValue).Distinct().Count());
    }

    [Fact]
    public async Task Outage_and_lost_acknowledgements_fail_the_write_and_a_retried_write_is_not_duplicated_in_a_FIFO_queue()
    {
        var faults = new FaultInjectingHandler();
        using SqsClient sqs = AwsTestClients.Sqs(emulator, faults);
        string queue = await AwsTestClients.QueueAsync(sqs, fifo: true);
        await using var sink = new SqsDeadLetterSink(sqs, new SqsDeadLetterSinkOptions { QueueUrl = queue });
        DeadLetterEnvelope first = DeadLetterEnvelopeTests.Sample([1], "k", "1");
        DeadLetterEnvelope second = DeadLetterEnvelopeTests.Sample([2], "k", "2");

        faults.Fault = Fault.Down;
        await Assert.ThrowsAsync<HttpRequestException>(async () => await sink.WriteAsync(first, default));

        // The service stores the message but the answer is lost: the write is not counted, and is retried.
        faults.Fault = Fault.LoseAcknowledgement;
        await Assert.ThrowsAsync<AwsServiceException>(async () => await sink.WriteAsync(first, default));

        faults.Fault = Fault.None;
        await sink.WriteAsync(first, default);
        await sink.WriteAsync(second, default);

        List<SqsMessage> messages = await AwsTestClients.PeekAllAsync(sqs, queue);
        Assert.Equal(2, messages.Count);
        Assert.Equal(["1", "2"], messages.Select(m => DeadLetterEnvelopeSerializer.Deserialize(System.Text.Encoding.UTF8.GetBytes(m.Body)).SequenceNumber));
    }

    [Fact]
    public void Options_are_validated_with_messages_naming_the_option_and_the_rule()
    {
        using SqsClient sqs = AwsTestClients.Sqs(emulator);
        ArgumentException error = Assert.Throws<ArgumentException>(() => new SqsDeadLetterSink(sqs, new SqsDeadLetterSinkOptions { QueueUrl = "not a url", MaxBatchSize = 11 }));
        Assert.Contains("SqsDeadLetterSinkOptions.QueueUrl must be an absolute http or https queue URL", error.Message);
        Assert.Contains("SqsDeadLetterSinkOptions.MaxBatchSize must be between 1 and 10", error.Message);
    }
}
