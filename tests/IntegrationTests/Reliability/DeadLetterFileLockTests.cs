using StreamLanes.Engine.Tests.Support;
using StreamLanes.IntegrationTests.Support;
using StreamLanes.TestInfrastructure;

namespace StreamLanes.IntegrationTests.Reliability;

/// <summary>Two consumer processes on one dead-letter file: the second is refused at start-up, and a crash frees the file.</summary>
[Collection(KinesisCollection.Name)]
public sealed class DeadLetterFileLockTests(KinesisAndDynamoDbFixture emulators) : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("streamlanes-lock-").FullName;

    [Fact]
    public async Task A_second_process_on_the_same_file_is_refused_at_start_and_the_file_is_free_again_after_a_kill()
    {
        KinesisTestStream stream = await KinesisTestStream.CreateAsync(emulators.Kinesis.CreateKinesisClient(), EmulatorFixture.UniqueName("lock"), 1);
        string table = EmulatorFixture.UniqueName("leases");

        // The same worker started twice in the same folder: both would append to <directory>/worker-1.dead-letters.jsonl.
        using WorkerProcess first = await WorkerProcess.StartAsync(emulators, stream.Name, table, "worker-1", _directory, "", 3);
        InvalidOperationException refused = await Assert.ThrowsAsync<InvalidOperationException>(
            () => WorkerProcess.StartAsync(emulators, stream.Name, table, "worker-1", _directory, "", 3));
        Assert.Contains("Stream consumer 'orders' cannot start", refused.Message, StringComparison.Ordinal);
        Assert.Contains($"'{first.DeadLetterFile}' is in use by another process", refused.Message, StringComparison.Ordinal);

        // SIGKILL: no stop, no release. The OS drops the lock with the process, so the restart is not refused.
        first.Kill();
        using WorkerProcess restarted = await WorkerProcess.StartAsync(emulators, stream.Name, table, "worker-1", _directory, "", 3);
        Assert.False(restarted.Killed);
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);
}
