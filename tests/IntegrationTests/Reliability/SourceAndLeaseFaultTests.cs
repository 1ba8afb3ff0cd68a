using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using StreamLanes.Engine.Tests.Support;
using StreamLanes.IntegrationTests.Support;
using StreamLanes.Sinks;
using StreamLanes.TestInfrastructure;
using Xunit.Abstractions;
using static StreamLanes.IntegrationTests.Support.Eventually;

namespace StreamLanes.IntegrationTests.Reliability;

[Collection(KinesisCollection.Name)]
public sealed class SourceAndLeaseFaultTests(KinesisAndDynamoDbFixture emulators, ITestOutputHelper output)
{
    [Fact]
    public async Task A_kinesis_outage_is_waited_out_and_reading_resumes_where_it_stopped()
    {
        KinesisTestStream stream = await KinesisTestStream.CreateAsync(emulators.Kinesis.CreateKinesisClient(), EmulatorFixture.UniqueName("outage"), 2);
        await stream.PutAsync(Enumerable.Range(0, 400).Select(i => $"key-{i % 50}"));

        // Every Kinesis call fails (503, or throttled) for three seconds once the first records were read.
        var outageBegan = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        var faults = new FaultInjectingHandler((operation, call) =>
        {
            if (operation == "GetRecords" && call == 3)
            {
                outageBegan.TrySetResult(System.Diagnostics.Stopwatch.GetTimestamp());
            }

            if (outageBegan.Task.IsCompleted && System.Diagnostics.Stopwatch.GetElapsedTime(outageBegan.Task.Result) < TimeSpan.FromSeconds(3))
            {
                return call % 2 == 0 ? ("ServiceUnavailable", HttpStatusCode.ServiceUnavailable) : ("ProvisionedThroughputExceededException", HttpStatusCode.BadRequest);
            }

            return null;
        });
        using var http = new HttpClient(faults);
        await using KinesisWorker worker = KinesisWorker.Create(emulators, stream.Name, EmulatorFixture.UniqueName("leases"), "worker-1", kinesis: options =>
        {
            options.HttpClient = http;
            options.MaxRecordsPerRead = 40;
            options.ReadRetry.InitialDelay = TimeSpan.FromMilliseconds(100);
            options.ReadRetry.MaxDelay = TimeSpan.FromSeconds(1);
            options.Aws.MaxTransportRetries = 1;
        });
        await worker.StartAsync();
        // More records arrive while the outage lasts.
        await outageBegan.Task.WaitAsync(TimeSpan.FromSeconds(30));
        await stream.PutAsync(Enumerable.Range(0, 400).Select(i => $"key-{i % 50}"));
        await WaitUntilAsync(() => worker.Handler.Successes.Count() >= 800, TimeSpan.FromSeconds(60), () => $"{worker.Handler.Successes.Count()} handled");

        InvariantChecker.Report report = InvariantChecker.Check(stream.Put, worker.Handler, []);
        int injected = faults.Log.Count(entry => entry.Injected);
        output.WriteLine($"outage: {injected} calls refused; records {report.Records}, handled {report.Handled}, duplicates {report.Duplicates}, lost 0");
        Assert.True(injected >= 4, $"only {injected} calls were refused");
        Assert.Equal(0, report.Duplicates);
    }

    [Fact]
    public async Task Contending_workers_never_process_one_shard_key_at_the_same_time()
    {
        KinesisTestStream stream = await KinesisTestStream.CreateAsync(emulators.Kinesis.CreateKinesisClient(), EmulatorFixture.UniqueName("contention"), 8);
        string table = EmulatorFixture.UniqueName("leases");
        var workers = Enumerable.Range(1, 4).Select(i => KinesisWorker.Create(emulators, stream.Name, table, $"worker-{i}", kinesis: options =>
        {
            // Short failover and greedy stealing: leases move often and conditional writes collide.
            options.Leases.FailoverTime = TimeSpan.FromSeconds(1.5);
            options.Leases.MaxLeasesToStealAtOneTime = 2;
        })).ToList();
        foreach (KinesisWorker worker in workers)
        {
            worker.Handler.Behaviour = static async (_, _, token) => await Task.Delay(1, token);
        }

        try
        {
            // Start all four at once so their first take rounds race for the same leases.
            await Task.WhenAll(workers.Select(w => w.StartAsync()));
            await stream.PutAsync(Enumerable.Range(0, 2000).Select(i => $"key-{i % 150}"));
            await WaitUntilAsync(() => workers.SelectMany(w => w.Handler.Successes).Select(c => InvariantChecker.Id(c.Record)).Distinct().Count() == 2000, TimeSpan.FromSeconds(90));
            InvariantChecker.Report report = InvariantChecker.Check(stream.Put, [.. workers.Select(w => w.Handler)], []);
            IReadOnlyList<string> overlaps = InvariantChecker.CrossRunOverlaps(workers.SelectMany(w => w.Handler.Calls));
            output.WriteLine($"contention: records {report.Records}, handled {report.Handled}, duplicates {report.Duplicates}, overlaps {overlaps.Count}, lost 0");
            Assert.True(overlaps.Count == 0, string.Join(Environment.NewLine, overlaps.Take(10)));
        }
        finally
        {
            foreach (KinesisWorker worker in workers)
            {
                await worker.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task A_missing_stream_fails_start_up_naming_it()
    {
        string missing = EmulatorFixture.UniqueName("missing");
        await using KinesisWorker worker = KinesisWorker.Create(emulators, missing, EmulatorFixture.UniqueName("leases"), "worker-1");
        InvalidOperationException error = await Assert.ThrowsAsync<InvalidOperationException>(worker.StartAsync);
        Assert.Contains($"Kinesis stream '{missing}' was not found in region us-east-1", error.Message);
    }

    [Fact]
    public async Task Rejected_credentials_fail_start_up_with_the_error_code_and_no_secret_in_the_logs()
    {
        const string secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
        var faults = new FaultInjectingHandler((operation, _) => ("UnrecognizedClientException", HttpStatusCode.BadRequest));
        using var http = new HttpClient(faults);
        var logs = new CapturingLoggerProvider();
        HostApplicationBuilder builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Logging.AddProvider(logs).SetMinimumLevel(LogLevel.Trace);
        builder.Services.AddSingleton(new RecordingHandler());
        builder.Services.AddStreamConsumer<RecordingHandler>("orders")
            .FromKinesis("any-stream", options =>
            {
                options.Aws = emulators.Kinesis.CreateClientOptions();
                options.Aws.Credentials = new Amazon.Runtime.BasicAWSCredentials("AKIDEXAMPLE", secret);
                options.HttpClient = http;
                options.DynamoDbServiceUrl = emulators.DynamoDb.ServiceUrl;
            })
            .UseDeadLetterSink(new InMemoryDeadLetterSink());
        using IHost host = builder.Build();
        InvalidOperationException error = await Assert.ThrowsAsync<InvalidOperationException>(() => host.StartAsync());
        Assert.Contains("UnrecognizedClientException", error.Message);
        Assert.Contains("credentials", error.Message);
        Assert.DoesNotContain(secret, error.ToString());
        Assert.DoesNotContain(logs.Messages, message => message.Contains(secret, StringComparison.Ordinal));
        Assert.DoesNotContain(faults.Log, entry => entry.Body.Contains(secret, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Empty_and_one_megabyte_records_are_handled_and_dead_lettered_byte_for_byte()
    {
        KinesisTestStream stream = await KinesisTestStream.CreateAsync(emulators.Kinesis.CreateKinesisClient(), EmulatorFixture.UniqueName("sizes"), 1);
        byte[] large = new byte[1024 * 1024 - 64];
        new Random(7).NextBytes(large);
        var empty = await stream.Client.PutRecordAsync(stream.Name, "empty-key", Array.Empty<byte>());
        var big = await stream.Client.PutRecordAsync(stream.Name, "big-key", large);
        await using KinesisWorker worker = KinesisWorker.Create(emulators, stream.Name, EmulatorFixture.UniqueName("leases"), "worker-1", options => options.MaxAttempts = 1);
        worker.Handler.Behaviour = static (record, _, _) => record.PartitionKey == "big-key" ? ValueTask.FromException(new InvalidOperationException("too big for downstream")) : ValueTask.CompletedTask;
        await worker.StartAsync();
        await WaitUntilAsync(() => worker.Handler.Successes.Any() && worker.DeadLetters.Envelopes.Count == 1, TimeSpan.FromSeconds(30));
        Assert.Equal(0, worker.Handler.Successes.Single().Record.Data.Length);
        Assert.Equal(empty.SequenceNumber, worker.Handler.Successes.Single().Record.SequenceNumber);
        DeadLetterEnvelope letter = worker.DeadLetters.Envelopes.Single();
        Assert.Equal(big.SequenceNumber, letter.SequenceNumber);
        Assert.Equal(large, letter.Payload.ToArray());
        Assert.Equal(large, DeadLetterEnvelopeSerializer.Deserialize(DeadLetterEnvelopeSerializer.Serialize(letter)).Payload.ToArray());
    }

    private sealed class CapturingLoggerProvider : ILoggerProvider
    {
        public System.Collections.Concurrent.ConcurrentQueue<string> Messages { get; } = new();

        public ILogger CreateLogger(string categoryName) => new Logger(Messages);

        public void Dispose()
        {
        }

        private sealed class Logger(System.Collections.Concurrent.ConcurrentQueue<string> messages) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
                => messages.Enqueue($"{formatter(state, exception)} {exception}");
        }
    }
}
