using System.Diagnostics;
using System.Text;
using System.Text.Json;
using StreamLanes.Sinks;

namespace StreamLanes.Cli.Tests;

/// <summary>Careless operator input and broken files: exit codes and messages, never a crash or a silent "nothing".</summary>
public sealed class CliInputTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "streamlanes-cli-tests", Guid.NewGuid().ToString("N"));

    static CliInputTests()
    {
        Environment.SetEnvironmentVariable("AWS_ACCESS_KEY_ID", "test");
        Environment.SetEnvironmentVariable("AWS_SECRET_ACCESS_KEY", "test");
    }

    private string DeadLetterFile => Path.Combine(_directory, "dead-letters.jsonl");

    private static DeadLetterEnvelope Letter(string key, string sequence) => new()
    {
        Consumer = "orders",
        SourceKind = SourceKind.Kinesis,
        Stream = "orders-stream",
        Shard = "shardId-000000000000",
        SequenceNumber = sequence,
        PartitionKey = key,
        ArrivalTime = DateTimeOffset.UnixEpoch,
        Payload = "{\"n\":1}"u8.ToArray(),
        Reason = DeadLetterReason.RetriesExhausted,
        Attempts = [DeadLetterAttempt.FromException(1, DateTimeOffset.UnixEpoch, DateTimeOffset.UnixEpoch, new TimeoutException("slow"))],
        DeadLetteredAt = new DateTimeOffset(2026, 11, 22, 6, 0, 0, TimeSpan.Zero),
    };

    private static async Task<(int Exit, string Output, string Error)> RunAsync(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        int exit = await StreamLanesCli.RunAsync(args, output, error, CancellationToken.None);
        return (exit, output.ToString(), error.ToString());
    }

    private async Task WriteLinesAsync(params byte[][] lines)
    {
        Directory.CreateDirectory(_directory);
        await File.WriteAllBytesAsync(DeadLetterFile, [.. lines.SelectMany(static l => l)]);
    }

    private static byte[] Line(DeadLetterEnvelope letter) => [.. DeadLetterEnvelopeSerializer.Serialize(letter), (byte)'\n'];

    [Theory]
    [InlineData("list")]
    [InlineData("show")]
    [InlineData("purge")]
    [InlineData("replay")]
    [InlineData("check")]
    public async Task A_missing_file_is_a_usage_error_naming_the_path_not_an_empty_queue(string verb)
    {
        string missing = Path.Combine(_directory, "dead-leters.jsonl");
        string[] args = verb == "purge" ? ["dlq", verb, "--file", missing, "--all"] : ["dlq", verb, "--file", missing];
        (int exit, string output, string error) = await RunAsync(args);

        Assert.Equal(2, exit);
        Assert.Contains($"'{missing}' does not exist", error, StringComparison.Ordinal);
        Assert.DoesNotContain("dead letter(s)", output, StringComparison.Ordinal);
        Assert.DoesNotContain("nothing matched", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_directory_given_as_file_is_a_usage_error()
    {
        Directory.CreateDirectory(_directory);
        (int exit, _, string error) = await RunAsync("dlq", "list", "--file", _directory);
        Assert.Equal(2, exit);
        Assert.Contains("is a directory", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--endpoint-url", "notaurl")]
    [InlineData("--endpoint-url", "ftp://127.0.0.1:8000")]
    [InlineData("--dynamodb-endpoint-url", "http://")]
    [InlineData("--sqs-endpoint-url", "127.0.0.1:4566")]
    [InlineData("--s3-endpoint-url", "::")]
    [InlineData("--region", "bad region")]
    [InlineData("--region", "US_EAST_1")]
    [InlineData("--region", "eu-west-1\n")]
    public async Task A_bad_endpoint_or_region_is_a_usage_error_naming_the_option_not_a_crash(string option, string value)
    {
        foreach (string[] store in new[] { new[] { "--dynamodb-table", "dead-letters" }, ["--sqs-queue-url", "http://127.0.0.1:4566/000000000000/dlq", "--s3-bucket", "b"] })
        {
            (int exit, _, string error) = await RunAsync(["dlq", "list", .. store, option, value]);
            Assert.Equal(2, exit);
            Assert.StartsWith(option, error, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("1e-300")]
    [InlineData("0.0009")]
    [InlineData("0")]
    [InlineData("-1")]
    [InlineData("NaN")]
    [InlineData("Infinity")]
    [InlineData("1e300")]
    public async Task A_rate_outside_the_sane_range_is_a_usage_error(string rate)
    {
        await WriteLinesAsync(Line(Letter("a", "1")));
        (int exit, _, string error) = await RunAsync("dlq", "purge", "--file", DeadLetterFile, "--all", "--rate", rate);
        Assert.Equal(2, exit);
        Assert.Contains("--rate must be between 0.001 (one dead letter per 1000 s) and 100000 per second", error, StringComparison.Ordinal);
        Assert.Single(await JsonLinesDeadLetterSink.ReadAllAsync(DeadLetterFile));

        (exit, _, _) = await RunAsync("dlq", "purge", "--file", DeadLetterFile, "--all", "--rate", "0.001", "--dry-run");
        Assert.Equal(0, exit);
    }

    [Fact]
    public async Task Replay_reports_itself_as_replay()
    {
        await WriteLinesAsync(Line(Letter("a", "1")));
        (int exit, string output, _) = await RunAsync("dlq", "replay", "--file", DeadLetterFile, "--dry-run");
        Assert.Equal(0, exit);
        Assert.Contains("replay (dry run): DryRun: 1", output, StringComparison.Ordinal);
        (_, output, _) = await RunAsync("dlq", "replay", "--file", DeadLetterFile, "--dry-run", "--output", "json");
        using JsonDocument json = JsonDocument.Parse(output);
        Assert.Equal("replay", json.RootElement.GetProperty("operation").GetString());
    }

    [Fact]
    public async Task Unreadable_lines_are_named_by_every_command_listed_by_check_kept_by_purge_and_moved_by_quarantine()
    {
        byte[] torn = Line(Letter("torn", "9"));
        await WriteLinesAsync(Line(Letter("a", "1")), "garbage\n"u8.ToArray(), Line(Letter("b", "2")), "{\"version\":1}\n"u8.ToArray(), torn[..(torn.Length / 2)]);

        (int exit, string output, string error) = await RunAsync("dlq", "list", "--file", DeadLetterFile);
        Assert.Equal(0, exit);
        Assert.Contains("2 dead letter(s)", output, StringComparison.Ordinal);
        Assert.Equal(3, error.Split('\n').Count(l => l.StartsWith($"warning: {DeadLetterFile} line ", StringComparison.Ordinal)));
        Assert.Contains($"{DeadLetterFile} line 5 is unreadable", error, StringComparison.Ordinal);

        (exit, output, _) = await RunAsync("dlq", "check", "--file", DeadLetterFile);
        Assert.Equal(1, exit);
        Assert.Equal(["line 2", "line 4", "line 5"], output.Split('\n').Where(l => l.StartsWith("line ", StringComparison.Ordinal)).Select(l => l[..6]));

        (exit, output, _) = await RunAsync("dlq", "purge", "--file", DeadLetterFile, "--all");
        Assert.Equal(0, exit);
        Assert.Contains("Purged: 2", output, StringComparison.Ordinal);
        (exit, output, _) = await RunAsync("dlq", "check", "--file", DeadLetterFile, "--output", "json");
        Assert.Equal(1, exit);
        using (JsonDocument json = JsonDocument.Parse(output))
        {
            Assert.Equal([2, 4, 5], json.RootElement.GetProperty("unreadableLines").EnumerateArray().Select(e => e.GetProperty("line").GetInt32()));
        }

        (exit, output, _) = await RunAsync("dlq", "quarantine", "--file", DeadLetterFile);
        Assert.Equal(0, exit);
        Assert.Contains($"3 unreadable line(s) in {DeadLetterFile} moved to {DeadLetterFile}.quarantine", output, StringComparison.Ordinal);
        string quarantined = await File.ReadAllTextAsync(DeadLetterFile + ".quarantine");
        Assert.Equal(["garbage", "{\"version\":1}", Encoding.UTF8.GetString(torn[..(torn.Length / 2)])], quarantined.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        (exit, _, _) = await RunAsync("dlq", "check", "--file", DeadLetterFile);
        Assert.Equal(0, exit);
    }

    [Fact]
    public async Task Copies_of_one_dead_letter_are_listed_once_and_purged_together()
    {
        DeadLetterEnvelope letter = Letter("a", "1");
        await WriteLinesAsync(Line(letter), Line(Letter("b", "2")), Line(letter with { DeadLetteredAt = letter.DeadLetteredAt.AddSeconds(1) }), Line(letter));

        (int exit, string output, _) = await RunAsync("dlq", "list", "--file", DeadLetterFile);
        Assert.Equal(0, exit);
        Assert.Contains("2 dead letter(s)", output, StringComparison.Ordinal);
        (_, output, _) = await RunAsync("dlq", "show", "--file", DeadLetterFile, "--output", "json");
        using (JsonDocument json = JsonDocument.Parse(output))
        {
            Assert.Equal(2, json.RootElement.GetArrayLength());
        }

        (exit, output, _) = await RunAsync("dlq", "purge", "--file", DeadLetterFile, "--key", "a");
        Assert.Equal(0, exit);
        Assert.Contains("Purged: 1", output, StringComparison.Ordinal);
        Assert.Equal(["b"], (await JsonLinesDeadLetterSink.ReadAllAsync(DeadLetterFile)).Select(e => e.PartitionKey));
    }

    [Fact]
    public async Task Another_process_may_read_but_not_change_a_file_a_consumer_writes()
    {
        await WriteLinesAsync(Line(Letter("a", "1")));
        var consumerSink = new JsonLinesDeadLetterSink(DeadLetterFile);
        try
        {
            // What a running consumer holds: the writer and its lock.
            await consumerSink.WriteAsync(Letter("b", "2"), default);

            (int exit, string output, string error) = await RunChildAsync("dlq", "purge", "--file", DeadLetterFile, "--all");
            Assert.Equal(1, exit);
            Assert.Contains($"The dead-letter file '{DeadLetterFile}' is in use by another process", error, StringComparison.Ordinal);
            Assert.Equal(2, (await JsonLinesDeadLetterSink.ReadAllAsync(DeadLetterFile)).Count);

            (exit, output, _) = await RunChildAsync("dlq", "list", "--file", DeadLetterFile);
            Assert.Equal(0, exit);
            Assert.Contains("2 dead letter(s)", output, StringComparison.Ordinal);
        }
        finally
        {
            await consumerSink.DisposeAsync();
        }

        (int after, string purged, _) = await RunChildAsync("dlq", "purge", "--file", DeadLetterFile, "--all");
        Assert.Equal(0, after);
        Assert.Contains("Purged: 2", purged, StringComparison.Ordinal);
    }

    /// <summary>Runs the built tool in its own process, as an operator's shell would.</summary>
    private static async Task<(int Exit, string Output, string Error)> RunChildAsync(params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add("exec");
        start.ArgumentList.Add(ToolAssembly());
        foreach (string arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using Process process = Process.Start(start) ?? throw new InvalidOperationException("Could not start the CLI.");
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        Task<string> output = process.StandardOutput.ReadToEndAsync(timeout.Token);
        Task<string> error = process.StandardError.ReadToEndAsync(timeout.Token);
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await output, await error);
    }

    private static string ToolAssembly()
    {
        // bin/<Configuration>/<framework> of this test project mirrors the tool's own output folder.
        var here = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        string framework = here.Name, configuration = here.Parent!.Name;
        DirectoryInfo repository = here.Parent.Parent!.Parent!.Parent!.Parent!;
        string path = Path.Combine(repository.FullName, "src", "Cli", "bin", configuration, framework, "StreamLanes.Cli.dll");
        return File.Exists(path) ? path : throw new FileNotFoundException($"The CLI was not built at {path}.");
    }

    public void Dispose()
    {
        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }
    }
}
