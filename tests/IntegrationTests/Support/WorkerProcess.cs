using System.Diagnostics;
using System.Globalization;
using StreamLanes.Engine.Tests.Support;

namespace StreamLanes.IntegrationTests.Support;

/// <summary>A Kinesis consumer in its own OS process (tests/Reliability.Worker), killed with SIGKILL or stopped with SIGTERM.</summary>
public sealed class WorkerProcess : IDisposable
{
    private readonly Process _process;
    private long _killedAt = long.MaxValue;
    private string? _capacityFile;

    private WorkerProcess(string id, Process process, string callLog, string deadLetterFile)
    {
        Id = id;
        _process = process;
        CallLog = callLog;
        DeadLetterFile = deadLetterFile;
    }

    public string Id { get; }

    public string CallLog { get; }

    public string DeadLetterFile { get; }

    public bool Killed => _killedAt != long.MaxValue;

    /// <summary>Starts a worker process and waits until it is ready (its first lease round done).</summary>
    /// <param name="instance">Names this process's files; by default the worker id. Give each process its own when two share a worker id (a restart with a stable id).</param>
    /// <param name="failureMode">The consumer's <see cref="KeyFailureMode"/>; by default DeadLetterAndContinue.</param>
    /// <param name="meterCapacity">Whether the worker's lease table uses a DI-registered DynamoDB client whose consumed units it reports (see <see cref="ReadCapacity"/>).</param>
    /// <param name="readMode">How the worker reads its shards; by default polling.</param>
    public static async Task<WorkerProcess> StartAsync(KinesisAndDynamoDbFixture emulators, string stream, string table, string id, string directory, string poisonKeys, double failoverSeconds, string? instance = null, KeyFailureMode? failureMode = null, bool meterCapacity = false, KinesisReadMode readMode = KinesisReadMode.Polling)
    {
        string callLog = Path.Combine(directory, $"{instance ?? id}.calls");
        string capacity = Path.Combine(directory, $"{instance ?? id}.capacity");
        string deadLetters = Path.Combine(directory, $"{instance ?? id}.dead-letters.jsonl");
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        // The tenth argument is the failure mode, the eleventh the read mode, the twelfth (optional) the capacity file.
        string[] optional = [(failureMode ?? KeyFailureMode.DeadLetterAndContinue).ToString(), readMode.ToString(), .. meterCapacity ? [capacity] : Array.Empty<string>()];
        foreach (string argument in new[]
        {
            "exec", WorkerAssembly(), stream, table, id, emulators.Kinesis.ServiceUrl.ToString(), emulators.DynamoDb.ServiceUrl.ToString(),
            callLog, deadLetters, poisonKeys, failoverSeconds.ToString(CultureInfo.InvariantCulture),
        }.Concat(optional))
        {
            start.ArgumentList.Add(argument);
        }

        Process process = Process.Start(start) ?? throw new InvalidOperationException("Could not start the worker process.");
        var worker = new WorkerProcess(id, process, callLog, deadLetters) { _capacityFile = meterCapacity ? capacity : null };
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        string? line;
        while ((line = await process.StandardOutput.ReadLineAsync(timeout.Token)) != "ready")
        {
            if (line is null)
            {
                string error = await process.StandardError.ReadToEndAsync(timeout.Token);
                throw new InvalidOperationException($"Worker {id} exited before it was ready: {error}");
            }
        }

        _ = process.StandardOutput.ReadToEndAsync();
        _ = process.StandardError.ReadToEndAsync();
        return worker;
    }

    /// <summary>SIGKILL: no drain, no checkpoint, no lease release; calls in flight end here.</summary>
    public void Kill()
    {
        _killedAt = Stopwatch.GetTimestamp();
        _process.Kill(entireProcessTree: true);
        _process.WaitForExit();
    }

    /// <summary>SIGTERM: the host stops gracefully (drain, final checkpoints, leases released); waits for the exit.</summary>
    public async Task StopAsync(TimeSpan timeout)
    {
        using (Process signal = Process.Start("kill", ["-TERM", _process.Id.ToString(CultureInfo.InvariantCulture)]))
        {
            await signal.WaitForExitAsync();
        }

        using var bound = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(bound.Token);
    }

    /// <summary>The lease table's consumed read and write units so far (the worker writes them four times a second).</summary>
    public (double Read, double Write) ReadCapacity()
    {
        string? text = _capacityFile is not null && File.Exists(_capacityFile) ? File.ReadAllText(_capacityFile) : null;
        if (text?.Split(' ') is not [string read, string write])
        {
            return (0, 0);
        }

        return (double.Parse(read, CultureInfo.InvariantCulture), double.Parse(write, CultureInfo.InvariantCulture));
    }

    /// <summary>Reads this worker's calls back; a call a kill interrupted ends at the kill.</summary>
    public IReadOnlyList<HandlerCall> ReadCalls(IReadOnlyDictionary<string, StreamRecord> records)
    {
        var open = new Dictionary<(string, int), long>();
        var calls = new List<HandlerCall>();
        using var reader = new StreamReader(new FileStream(CallLog, FileMode.Open, FileAccess.Read, FileShare.ReadWrite));
        while (reader.ReadLine() is { } line)
        {
            string[] f = line.Split('|');
            if (f.Length != 9)
            {
                continue; // a line cut by the kill
            }

            string id = $"{f[2]}/{f[3]}/{f[4]}";
            int attempt = int.Parse(f[6], CultureInfo.InvariantCulture);
            long ticks = long.Parse(f[7], CultureInfo.InvariantCulture);
            if (f[0] == "S")
            {
                open[(id, attempt)] = ticks;
            }
            else if (open.Remove((id, attempt), out long started))
            {
                calls.Add(new HandlerCall(records[id], attempt, started, ticks, f[8] == "1", 0));
            }
        }

        calls.AddRange(open.Select(pair => new HandlerCall(records[pair.Key.Item1], pair.Key.Item2, pair.Value, Math.Min(_killedAt, Stopwatch.GetTimestamp()), false, 0)));
        return calls;
    }

    /// <summary>How many calls ended in success so far (needs no record list, so it can be read while records are still put).</summary>
    public int SucceededCount()
    {
        using var reader = new StreamReader(new FileStream(CallLog, FileMode.Open, FileAccess.Read, FileShare.ReadWrite));
        int count = 0;
        while (reader.ReadLine() is { } line)
        {
            count += line.StartsWith("E|", StringComparison.Ordinal) && line.EndsWith("|1", StringComparison.Ordinal) ? 1 : 0;
        }

        return count;
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit();
        }

        _process.Dispose();
    }

    private static string WorkerAssembly()
    {
        // bin/<Configuration>/net10.0 of this test project mirrors the worker's.
        var here = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        string framework = here.Name, configuration = here.Parent!.Name;
        DirectoryInfo tests = here.Parent.Parent!.Parent!.Parent!;
        string path = Path.Combine(tests.FullName, "Reliability.Worker", "bin", configuration, framework, "StreamLanes.Reliability.Worker.dll");
        return File.Exists(path) ? path : throw new FileNotFoundException($"The reliability worker was not built at {path}.");
    }
}
