using StreamLanes.Engine.Tests.Support;

namespace StreamLanes.Engine.Tests.Dispatching;

public sealed class PerKeyOrderTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public async Task Per_key_order_holds_under_random_delays_and_failures(int seed)
    {
        var random = new Random(seed);
        var stream = new InMemoryStream("orders", shardCount: 4);
        var handler = new RecordingHandler();
        var permanentlyFailing = new HashSet<string> { "key-7", "key-42" };
        var failuresBeforeSuccess = new System.Collections.Concurrent.ConcurrentDictionary<string, int>();
        handler.Behaviour = async (record, attempt, token) =>
        {
            int delay;
            bool fail;
            lock (random)
            {
                delay = random.Next(4);
                fail = random.NextDouble() < 0.1;
            }

            if (delay > 0)
            {
                await Task.Delay(delay, token);
            }
            else if (fail)
            {
                await Task.Yield();
            }

            if (permanentlyFailing.Contains(record.PartitionKey) || (fail && attempt < 3))
            {
                throw new InvalidOperationException($"injected failure, attempt {attempt}");
            }
        };

        await using var harness = ConsumerHarness.Create(stream, handler, options =>
        {
            options.MaxAttempts = 4;
            options.MaxConcurrentHandlers = 32;
            options.MaxBufferedRecordsPerShard = 500;
            options.MaxBufferedRecords = 1000;
        });

        var put = new List<StreamRecord>();
        for (int i = 0; i < 1000; i++)
        {
            put.Add(stream.Put($"key-{random.Next(300)}", $"{{\"n\":{i}}}"));
        }

        await harness.StartAsync();
        for (int i = 1000; i < 3000; i++)
        {
            put.Add(stream.Put($"key-{random.Next(300)}", $"{{\"n\":{i}}}"));
        }

        await harness.WaitForAllCompleteAsync(TimeSpan.FromSeconds(60));

        InvariantChecker.Report report = InvariantChecker.Check(put, handler, harness.DeadLetters);
        Assert.Equal(put.Count(record => permanentlyFailing.Contains(record.PartitionKey)), report.DeadLettered);
        Assert.Equal(0, report.Duplicates);
        Assert.True(handler.MaxConcurrentCalls > 1, "handlers for different keys should run concurrently");
    }
}
