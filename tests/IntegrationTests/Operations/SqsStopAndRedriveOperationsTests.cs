using System.Diagnostics;
using System.Text;
using Amazon.S3;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using StreamLanes.Aws;
using StreamLanes.Engine.Tests.Support;
using StreamLanes.Sinks;
using StreamLanes.TestInfrastructure;
using Xunit.Abstractions;
using static StreamLanes.IntegrationTests.Operations.SqsQueues;
using static StreamLanes.IntegrationTests.Support.Eventually;

namespace StreamLanes.IntegrationTests.Operations;

/// <summary>
/// What operators do to an SQS consumer: stop it while its receivers long-poll (every deployment does), and move dead
/// letters back to the source queue with SQS's own DLQ redrive (the console's "Start DLQ redrive").
/// </summary>
[Collection(EmulatorCollections.Sqs)]
public sealed class SqsStopAndRedriveOperationsTests(SqsEmulatorFixture emulator, ITestOutputHelper output) : IDisposable
{
    private readonly SqsClient _sqs = emulator.CreateSqsClient();

    public void Dispose() => _sqs.Dispose();

    [Fact]
    public async Task A_stop_during_idle_long_polls_waits_for_them_and_the_next_process_handles_messages_sent_right_after_it()
    {
        // SQS hands a message to a long poll whose client went away, and hides it for the visibility timeout: here 120 s,
        // far beyond this test's bounds. A stop that cancelled its polls would leave them waiting to swallow these.
        string queue = await CreateAsync(_sqs, "orders", fifo: true, visibilitySeconds: 120);
        RecordingHandler firstHandler = PoisonAware(), nextHandler = PoisonAware();
        TimeSpan stopDuration;
        await using (SqsService first = await StartWithDefaultPollingAsync(queue, firstHandler))
        {
            // Nothing arrives during the stop: it lasts until the receivers' 20 s polls end by themselves.
            stopDuration = await first.StopAsync();
        }

        List<string> sent = await SendGroupsAsync(queue);
        output.WriteLine($"the stop took {stopDuration.TotalMilliseconds:F0} ms");
        Assert.True(stopDuration < TimeSpan.FromSeconds(30), $"the stop took {stopDuration}: over the host's default ShutdownTimeout");
        await AssertNextProcessHandlesAsync(queue, sent, nextHandler);
        Assert.Single(firstHandler.Calls);
    }

    [Fact]
    public async Task A_stop_releases_what_its_long_polls_receive_after_it_began_and_the_next_process_handles_it_in_group_order()
    {
        string queue = await CreateAsync(_sqs, "orders", fifo: true, visibilitySeconds: 120);
        RecordingHandler firstHandler = PoisonAware(), nextHandler = PoisonAware();
        TimeSpan stopDuration;
        List<string> sent;
        await using (SqsService first = await StartWithDefaultPollingAsync(queue, firstHandler))
        {
            // The stop begins; messages arrive right after, while the receivers' polls are still in flight: the polls
            // return them to the stopping process, which must not handle them but make them visible again.
            Task<TimeSpan> stopping = first.StopAsync();
            sent = await SendGroupsAsync(queue);
            stopDuration = await stopping;
        }

        output.WriteLine($"the stop took {stopDuration.TotalMilliseconds:F0} ms");
        Assert.True(stopDuration < TimeSpan.FromSeconds(30), $"the stop took {stopDuration}: over the host's default ShutdownTimeout");
        await AssertNextProcessHandlesAsync(queue, sent, nextHandler);
        Assert.Single(firstHandler.Calls);
    }

    [Fact]
    public async Task A_host_with_two_SQS_consumers_stops_within_its_ShutdownTimeout_and_leaves_no_message_hidden()
    {
        string[] queues = [await CreateAsync(_sqs, "orders", fifo: true, visibilitySeconds: 120), await CreateAsync(_sqs, "payments", fifo: true, visibilitySeconds: 120)];
        var firstHandler = new RecordingHandler();
        TimeSpan stopDuration;
        using (IHost first = TwoConsumerHost(queues, firstHandler))
        {
            await first.StartAsync();
            foreach (string queue in queues)
            {
                await SendAsync(_sqs, queue, "warm-up", "{}");
            }

            // Both consumers' receivers have just begun new 20 s polls. The host stops its consumers one after the other.
            await WaitUntilAsync(() => firstHandler.Successes.Count() == 2, TimeSpan.FromSeconds(30));
            long started = Stopwatch.GetTimestamp();
            await first.StopAsync();
            stopDuration = Stopwatch.GetElapsedTime(started);
        }

        var sent = new List<string>();
        foreach (string queue in queues)
        {
            for (int i = 1; i <= 3; i++)
            {
                string body = $"{{\"queue\":\"{queue}\",\"i\":{i}}}";
                await SendAsync(_sqs, queue, "k", body);
                sent.Add(body);
            }
        }

        output.WriteLine($"the host's stop took {stopDuration.TotalMilliseconds:F0} ms");
        Assert.True(stopDuration < TimeSpan.FromSeconds(30), $"the host's stop took {stopDuration}: over its default ShutdownTimeout");

        var nextHandler = new RecordingHandler();
        using IHost next = TwoConsumerHost(queues, nextHandler, TimeSpan.FromSeconds(1));
        await next.StartAsync();
        await WaitUntilAsync(() => nextHandler.Successes.Count() == sent.Count, TimeSpan.FromSeconds(40), () => $"{nextHandler.Successes.Count()}/{sent.Count}");
        await next.StopAsync();
        foreach (string queue in queues)
        {
            Assert.Equal(sent.Where(s => s.Contains(queue, StringComparison.Ordinal)), nextHandler.Successes.Where(c => Text(c.Record.Data).Contains(queue, StringComparison.Ordinal)).OrderBy(c => c.StartedTicks).Select(c => Text(c.Record.Data)));
            Assert.Equal((0, 0), await CountAsync(_sqs, queue));
        }
    }

    /// <summary>One host, two SQS consumers with the polling defaults (two receivers, 20 s long polls unless told), one handler.</summary>
    private IHost TwoConsumerHost(string[] queues, RecordingHandler handler, TimeSpan? waitTime = null)
    {
        HostApplicationBuilder builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddSingleton(handler);
        foreach ((string queue, string name) in queues.Zip(["orders", "payments"]))
        {
            builder.Services.AddStreamConsumer<RecordingHandler>(name)
                .FromSqs(queue, options =>
                {
                    options.Aws = emulator.CreateClientOptions();
                    options.VisibilityTimeout = TimeSpan.FromSeconds(120);
                    options.WaitTime = waitTime ?? options.WaitTime;
                })
                .UseDeadLetterSink(new InMemoryDeadLetterSink());
        }

        return builder.Build();
    }

    [Fact]
    public async Task A_stop_whose_long_polls_hang_ends_within_WaitTime_plus_its_grace()
    {
        string queue = await CreateAsync(_sqs, "orders", fifo: false);
        using var transport = new HangingReceives();
        await using SqsService service = SqsService.Create(emulator, queue, _ => new InMemoryDeadLetterSink(), PoisonAware(), options =>
        {
            options.WaitTime = TimeSpan.FromSeconds(2);
            options.Receivers = 2;
        }, transport);
        await service.StartAsync();
        await SendAsync(_sqs, queue, "warm-up", "{}");
        await WaitUntilAsync(() => service.Consumer.GetStatus().Handled == 1, TimeSpan.FromSeconds(20));
        transport.Hang = true;
        await WaitUntilAsync(() => transport.Hung == 2, TimeSpan.FromSeconds(10));

        // The stop waits for the polls until WaitTime (2 s) + 3 s after it began, then cancels them: bounded even when
        // the network is not.
        TimeSpan took = await service.StopAsync();
        output.WriteLine($"the stop took {took.TotalMilliseconds:F0} ms with both polls hung");
        Assert.InRange(took, TimeSpan.FromSeconds(4), TimeSpan.FromSeconds(12));
        Assert.Equal(0, transport.Hung);
    }

    /// <summary>A consumer with the polling defaults an operator runs with (two receivers, 20 s long polls), warmed up.</summary>
    private async Task<SqsService> StartWithDefaultPollingAsync(string queue, RecordingHandler handler)
    {
        SqsService service = SqsService.Create(emulator, queue, _ => new InMemoryDeadLetterSink(), handler, options =>
        {
            options.WaitTime = TimeSpan.FromSeconds(20);
            options.Receivers = 2;
            options.VisibilityTimeout = TimeSpan.FromSeconds(120);
        });
        await service.StartAsync();
        await SendAsync(_sqs, queue, "warm-up", "{\"warm-up\":true}");
        await WaitUntilAsync(() => service.Consumer.GetStatus().Handled == 1, TimeSpan.FromSeconds(30));
        return service;
    }

    /// <summary>Three messages in each of three groups, sent in order.</summary>
    private async Task<List<string>> SendGroupsAsync(string queue)
    {
        var sent = new List<string>();
        for (int i = 1; i <= 3; i++)
        {
            foreach (string group in new[] { "a", "b", "c" })
            {
                string body = $"{{\"g\":\"{group}\",\"i\":{i}}}";
                await SendAsync(_sqs, queue, group, body);
                sent.Add(body);
            }
        }

        return sent;
    }

    /// <summary>The next process handles every message, once, each group in send order, well within the 120 s a hidden one would take.</summary>
    private async Task AssertNextProcessHandlesAsync(string queue, List<string> sent, RecordingHandler handler)
    {
        var clock = Stopwatch.StartNew();
        await using SqsService next = SqsService.Create(emulator, queue, _ => new InMemoryDeadLetterSink(), handler, options => options.VisibilityTimeout = TimeSpan.FromSeconds(120));
        await next.StartAsync();
        await WaitUntilAsync(
            () => handler.Successes.Count() == sent.Count,
            TimeSpan.FromSeconds(40),
            () => $"{handler.Successes.Count()}/{sent.Count} handled by the next process; queue (visible, hidden) {CountAsync(_sqs, queue).Result}");
        output.WriteLine($"the next process handled all {sent.Count} in {clock.ElapsedMilliseconds} ms");
        await next.StopAsync();

        Assert.Equal(sent.Order(StringComparer.Ordinal), handler.Successes.Select(c => Text(c.Record.Data)).Order(StringComparer.Ordinal));
        foreach (IGrouping<string, HandlerCall> group in handler.Successes.GroupBy(c => c.Record.PartitionKey))
        {
            Assert.Equal(sent.Where(s => s.Contains($"\"g\":\"{group.Key}\"", StringComparison.Ordinal)), group.OrderBy(c => c.StartedTicks).Select(c => Text(c.Record.Data)));
        }

        Assert.Equal((0, 0), await CountAsync(_sqs, queue));
    }

    [Fact]
    public async Task A_console_style_DLQ_redrive_hands_the_handler_the_original_body_and_attributes_inline_and_claim_checked()
    {
        string queue = await CreateAsync(_sqs, "orders", fifo: true);
        string dlq = await CreateAsync(_sqs, "orders-dlq", fifo: true);
        using AmazonS3Client s3 = new(
            EmulatorFixture.TestCredentials,
            new AmazonS3Config { ServiceURL = emulator.ServiceUrl.ToString(), ForcePathStyle = true, AuthenticationRegion = EmulatorFixture.Region });
        string bucket = EmulatorFixture.UniqueName("dlq").ToLowerInvariant();
        await s3.PutBucketAsync(bucket);
        var claimCheck = new S3ClaimCheck(s3, new S3ClaimCheckOptions { BucketName = bucket });

        // The handler fails (a bug) until it is fixed; the large message's dead letter is over the sink's limit and goes to S3.
        bool fixedHandler = false;
        var handler = new RecordingHandler
        {
            Behaviour = (_, _, _) => Volatile.Read(ref fixedHandler) ? ValueTask.CompletedTask : ValueTask.FromException(new InvalidOperationException("bug")),
        };
        string small = "{\"order\":1}";
        string large = "{\"order\":2,\"lines\":\"" + new string('x', 4000) + "\"}";
        var extra = new Dictionary<string, SqsMessageAttributeValue>
        {
            ["trace"] = new() { DataType = "String", StringValue = "t-1" },
            ["blob"] = new() { DataType = "Binary", BinaryValue = new byte[] { 0, 1, 2, 255 } },
        };
        await using SqsService service = SqsService.Create(
            emulator,
            queue,
            _ => new SqsDeadLetterSink(_sqs, new SqsDeadLetterSinkOptions { QueueUrl = dlq, MaxMessageBytes = 2048 }, claimCheck),
            handler,
            options => options.ClaimCheck = claimCheck);
        await service.StartAsync();
        await SendAsync(_sqs, queue, "k", small, extra);
        await SendAsync(_sqs, queue, "k", large, extra);
        await WaitUntilAsync(() => service.Consumer.GetStatus().DeadLettered == 2, TimeSpan.FromSeconds(30), () => $"{service.Consumer.GetStatus()}");
        Dictionary<string, IReadOnlyDictionary<string, string>> original = handler.Calls.GroupBy(c => Text(c.Record.Data)).ToDictionary(g => g.Key, g => g.First().Record.Attributes);

        // The fix is deployed; the operator starts a DLQ redrive. SQS moves each message back as it is: body and
        // message attributes unchanged (fauxqs lacks StartMessageMoveTask, so the test moves them the same way).
        Volatile.Write(ref fixedHandler, true);
        var clock = Stopwatch.StartNew();
        List<SqsMessage> moved = await DrainAsync(_sqs, dlq);
        Assert.Equal(2, moved.Count);
        Assert.Contains(moved, m => m.MessageAttributes.ContainsKey(SqsDeadLetterSink.ClaimCheckAttribute));
        foreach (SqsMessage message in moved)
        {
            await _sqs.SendMessageAsync(new SqsSendMessageRequest
            {
                QueueUrl = queue,
                MessageBody = message.Body,
                MessageAttributes = message.MessageAttributes,
                MessageGroupId = message.MessageGroupId,
                MessageDeduplicationId = message.Attributes.GetValueOrDefault(SqsAttributeNames.MessageDeduplicationId),
            });
        }

        await WaitUntilAsync(() => handler.Successes.Count() == 2, TimeSpan.FromSeconds(30), () => $"{service.Consumer.GetStatus()}");
        output.WriteLine($"both redriven dead letters handled {clock.ElapsedMilliseconds} ms after the redrive started");

        // The handler got the original records: body, key and attributes, in the group's order; no envelope.
        HandlerCall[] redriven = [.. handler.Successes.OrderBy(c => c.StartedTicks)];
        Assert.Equal([small, large], redriven.Select(c => Text(c.Record.Data)));
        foreach (HandlerCall call in redriven)
        {
            Assert.Equal("k", call.Record.PartitionKey);
            Assert.Equal(original[Text(call.Record.Data)].OrderBy(a => a.Key), call.Record.Attributes.OrderBy(a => a.Key));
            Assert.Equal("t-1", call.Record.Attributes["trace"]);
            Assert.Equal(Convert.ToBase64String(new byte[] { 0, 1, 2, 255 }), call.Record.Attributes["blob"]);
            Assert.DoesNotContain(call.Record.Attributes.Keys, k => k.StartsWith("streamlanes.", StringComparison.Ordinal));
        }

        Assert.Equal(2L, service.Consumer.GetStatus().DeadLettered);
        await WaitUntilAsync(() => CountAsync(_sqs, queue).Result == (0, 0), TimeSpan.FromSeconds(10));
        Assert.Equal((0, 0), await CountAsync(_sqs, dlq));
    }

    [Fact]
    public async Task A_consumer_of_the_dead_letter_queue_itself_can_ask_for_the_envelopes_as_they_are()
    {
        string dlq = await CreateAsync(_sqs, "orders-dlq", fifo: false);
        await using (var sink = new SqsDeadLetterSink(_sqs, new SqsDeadLetterSinkOptions { QueueUrl = dlq }))
        {
            await sink.WriteAsync(Letter(), CancellationToken.None);
        }

        var handler = new RecordingHandler();
        await using SqsService reader = SqsService.Create(emulator, dlq, _ => new InMemoryDeadLetterSink(), handler, options => options.UnwrapDeadLetters = false);
        await reader.StartAsync();
        await WaitUntilAsync(() => handler.Successes.Any(), TimeSpan.FromSeconds(20));
        DeadLetterEnvelope received = DeadLetterEnvelopeSerializer.Deserialize(Assert.Single(handler.Successes).Record.Data.Span);
        Assert.Equal(Letter().Id, received.Id);
    }

    [Fact]
    public async Task The_SQS_sink_marks_every_dead_letter_it_writes_with_the_envelope_version()
    {
        string dlq = await CreateAsync(_sqs, "orders-dlq", fifo: false);
        await using var sink = new SqsDeadLetterSink(_sqs, new SqsDeadLetterSinkOptions { QueueUrl = dlq });
        await sink.WriteAsync(Letter(), CancellationToken.None);
        SqsMessage message = Assert.Single(await DrainAsync(_sqs, dlq));
        Assert.Equal("1", message.MessageAttributes["streamlanes.envelope"].StringValue);
    }

    private static DeadLetterEnvelope Letter() => new()
    {
        Consumer = "orders",
        SourceKind = SourceKind.Sqs,
        Stream = "orders",
        Shard = "receivers",
        SequenceNumber = "1",
        PartitionKey = "k",
        ArrivalTime = DateTimeOffset.UnixEpoch,
        Payload = Encoding.UTF8.GetBytes("{}"),
        Reason = DeadLetterReason.RetriesExhausted,
        DeadLetteredAt = DateTimeOffset.UnixEpoch,
    };
}
