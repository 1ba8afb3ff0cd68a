using System.Text.Json;
using StreamLanes.Sinks;

namespace StreamLanes.Cli.Tests;

public sealed class TableEscapingTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "streamlanes-cli-table-tests", Guid.NewGuid().ToString("N"));

    private static readonly string[] HostileKeys =
    [
        "k1\r\nERROR|forged|injected",
        "k2\u001b[2J\u001b]0;pwned\u0007",
        "k3-lone-" + (char)0xD800 + "-surrogate",
        "k4-bidi-\u202Etxt.exe",
        "k5" + new string('x', 10_000),
    ];

    private static DeadLetterEnvelope Letter(string key, int sequence) => new()
    {
        Consumer = "orders",
        SourceKind = SourceKind.Kinesis,
        Stream = "orders-stream",
        Shard = "shardId-000000000000",
        SequenceNumber = sequence.ToString(System.Globalization.CultureInfo.InvariantCulture),
        PartitionKey = key,
        ArrivalTime = DateTimeOffset.UnixEpoch,
        Payload = "{}"u8.ToArray(),
        Reason = DeadLetterReason.RetriesExhausted,
        Attempts = [DeadLetterAttempt.FromException(1, DateTimeOffset.UnixEpoch, DateTimeOffset.UnixEpoch, new InvalidOperationException($"bad key {key}"))],
        DeadLetteredAt = new DateTimeOffset(2026, 11, 22, 6, 0, 0, TimeSpan.Zero),
    };

    private async Task<string> FileAsync()
    {
        string path = Path.Combine(_directory, "dead-letters.jsonl");
        await using var sink = new JsonLinesDeadLetterSink(path);
        for (int i = 0; i < HostileKeys.Length; i++)
        {
            await sink.WriteAsync(Letter(HostileKeys[i], i + 1), default);
        }

        return path;
    }

    private static async Task<(int Exit, string Output)> RunAsync(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        int exit = await StreamLanesCli.RunAsync(args, output, error, CancellationToken.None);
        return (exit, output.ToString() + error.ToString());
    }

    private static void AssertTerminalSafe(string output)
    {
        Assert.DoesNotContain('\u001b', output);
        Assert.DoesNotContain('\u0007', output);
        Assert.DoesNotContain('\r', output.Replace(Environment.NewLine, "\n", StringComparison.Ordinal));
        Assert.DoesNotContain('\u202E', output);
        Assert.False(output.Where((c, i) => char.IsHighSurrogate(c) ? i + 1 >= output.Length || !char.IsLowSurrogate(output[i + 1]) : char.IsLowSurrogate(c) && (i == 0 || !char.IsHighSurrogate(output[i - 1]))).Any(), "a lone surrogate reached the output");
        Assert.All(output.Split('\n'), line => Assert.DoesNotContain("ERROR|forged", line.TrimStart()[..Math.Min(12, line.TrimStart().Length)], StringComparison.Ordinal));
        Assert.DoesNotContain(new string('x', 1_100), output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_list_table_escapes_and_caps_hostile_keys()
    {
        string path = await FileAsync();
        (int exit, string output) = await RunAsync("dlq", "list", "--file", path);
        Assert.Equal(0, exit);
        AssertTerminalSafe(output);
        Assert.Contains(@"k1\u000D\u000AERROR|forged|injected", output, StringComparison.Ordinal);
        Assert.Contains(@"k2\u001B[2J\u001B]0;pwned\u0007", output, StringComparison.Ordinal);
        Assert.Contains(@"k3-lone-\uD800-surrogate", output, StringComparison.Ordinal);
        Assert.Contains(@"k4-bidi-\u202Etxt.exe", output, StringComparison.Ordinal);
        Assert.Equal(HostileKeys.Length + 2, output.Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries).Length); // header, rows, count
    }

    [Fact]
    public async Task The_show_text_escapes_keys_and_exception_messages_and_json_keeps_them_exact()
    {
        string path = await FileAsync();
        (int exit, string text) = await RunAsync("dlq", "show", "--file", path);
        Assert.Equal(0, exit);
        AssertTerminalSafe(text);
        Assert.Contains(@"key:           k1\u000D\u000AERROR|forged|injected", text, StringComparison.Ordinal);
        Assert.Contains("…(10002 chars)", text, StringComparison.Ordinal);

        (int jsonExit, string json) = await RunAsync("dlq", "list", "--file", path, "--output", "json");
        Assert.Equal(0, jsonExit);
        string[] keys = [.. JsonDocument.Parse(json).RootElement.EnumerateArray().Select(e => e.GetProperty("partitionKey").GetString()!)];
        Assert.Equal(HostileKeys.Where(k => !k.Contains((char)0xD800)), keys.Where(k => !k.StartsWith("k3", StringComparison.Ordinal)));
    }

    public void Dispose()
    {
        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }
    }
}
