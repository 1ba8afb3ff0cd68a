using System.Text;
using StreamLanes.Aws;
using StreamLanes.IntegrationTests.Support;
using StreamLanes.Sinks;
using StreamLanes.TestInfrastructure;
using static StreamLanes.IntegrationTests.Support.Eventually;

namespace StreamLanes.IntegrationTests.Sqs;

/// <summary>A message group parked by ParkKey on a FIFO queue stays parked across a restart (kept in the data directory).</summary>
[Collection(EmulatorCollections.Sqs)]
public sealed class SqsParkedGroupTests(SqsEmulatorFixture emulator) : IDisposable
{
    private readonly SqsClient _client = emulator.CreateSqsClient();
    private readonly string _dataDirectory = Directory.CreateTempSubdirectory("streamlanes-sqs-park-").FullName;

    private SqsWorker Worker(string queue, bool failPoison)
    {
        SqsWorker worker = SqsWorker.Create(emulator, queue, options =>
        {
            options.FailureMode = KeyFailureMode.ParkKey;
            options.MaxAttempts = 1;
            options.DataDirectory = _dataDirectory;
            options.CheckpointInterval = TimeSpan.FromMilliseconds(100);
        });
        worker.Handler.Behaviour = (record, _, _) => failPoison && record.PartitionKey == "poison" ? ValueTask.FromException(new InvalidOperationException("poison")) : ValueTask.CompletedTask;
        return worker;
    }

    private Task SendAsync(string queue, params (string Group, string Body)[] messages) => ParkedGroupQueue.SendAsync(_client, queue, messages);

    [Fact]
    public async Task A_parked_message_group_stays_parked_after_a_restart()
    {
        string queue = await ParkedGroupQueue.CreateAsync(_client, "park");
        await SendAsync(queue, ("poison", "p1"), ("ok", "o1"));
        DeadLetterEnvelope first;
        await using (SqsWorker before = Worker(queue, failPoison: true))
        {
            await before.StartAsync();
            await WaitUntilAsync(() => before.DeadLetters.Envelopes.Count == 1 && before.Handler.Successes.Any(), TimeSpan.FromSeconds(30));
            first = before.DeadLetters.Envelopes.Single();
            Assert.Contains("poison", before.Consumer.ParkedKeys.Keys);
            await before.StopAsync();
        }

        // The restarted consumer would handle the group: only the saved state keeps it parked.
        await SendAsync(queue, ("poison", "p2"), ("ok", "o2"));
        await using SqsWorker after = Worker(queue, failPoison: false);
        await after.StartAsync();
        await WaitUntilAsync(() => after.DeadLetters.Envelopes.Count == 1 && after.Handler.Successes.Any(), TimeSpan.FromSeconds(30), () => $"{after.DeadLetters.Envelopes.Count} dead letters, {after.Handler.Successes.Count()} handled");

        Assert.Equal(["o2"], after.Handler.Calls.Select(c => Encoding.UTF8.GetString(c.Record.Data.Span)));
        DeadLetterEnvelope parked = after.DeadLetters.Envelopes.Single();
        Assert.Equal(("poison", DeadLetterReason.ParkedBehind, first.SequenceNumber), (parked.PartitionKey, parked.Reason, parked.ParkedBehindSequenceNumber));
        ParkedKeyDetails details = Assert.Single(after.Consumer.Inspect().ParkedKeys);
        Assert.Equal(first.Id, details.DeadLetterId);

        // Released: saved at once, so a further restart no longer parks it.
        Assert.True(after.Consumer.ReleaseKey("poison"));
        string file = Directory.GetFiles(Path.Combine(_dataDirectory, "checkpoints"), "*.checkpoints.json").Single();
        await WaitUntilAsync(() => !File.ReadAllText(file).Contains("keyState", StringComparison.Ordinal), TimeSpan.FromSeconds(10), () => File.ReadAllText(file));
    }

    public void Dispose()
    {
        _client.Dispose();
        Directory.Delete(_dataDirectory, recursive: true);
    }
}
