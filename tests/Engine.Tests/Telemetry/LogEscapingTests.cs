using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using StreamLanes.Engine.Tests.Support;
using StreamLanes.Sinks;

namespace StreamLanes.Engine.Tests.Telemetry;

/// <summary>Console.Out is process-wide: these tests replace it, so they run alone.</summary>
[CollectionDefinition(nameof(ConsoleOutput), DisableParallelization = true)]
public sealed class ConsoleOutput;

[Collection(nameof(ConsoleOutput))]
public sealed class LogEscapingTests
{
    [Fact]
    public async Task Hostile_keys_reach_the_real_console_logger_escaped_capped_and_never_stop_a_strict_utf8_writer()
    {
        string forged = "k1\r\nERROR|forged|injected line";
        string escape = "k2\u001b[31mred\u001b]0;title\u0007";
        string lone = "k3-lone-\uD800-surrogate";
        string huge = "k4" + new string('x', 10_000);
        string after = "k5-after";
        string[] keys = [forged, escape, lone, huge, after];

        var stream = new InMemoryStream("orders");
        foreach (string key in keys)
        {
            stream.PutToShard(0, key, "{}"u8.ToArray());
        }

        // A strict UTF-8 writer throws on a lone surrogate, as some loggers' sinks do.
        using var bytes = new MemoryStream();
        var strict = new StreamWriter(bytes, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true)) { AutoFlush = true };
        TextWriter original = Console.Out;
        Console.SetOut(strict);
        var sink = new InMemoryDeadLetterSink();
        var handler = new RecordingHandler { Behaviour = static (record, _, _) => ValueTask.FromException(new InvalidOperationException($"bad key {record.PartitionKey}")) };
        try
        {
            await using (var harness = ConsumerHarness.Create(
                stream,
                handler,
                options => options.MaxAttempts = 2,
                sink: sink,
                build: consumer => consumer
                    .WithLaneKey(static _ => "one-lane") // in put order, so the last key is logged after the hostile ones
                    .Services.AddLogging(logging => logging
                        .SetMinimumLevel(LogLevel.Debug)
                        .AddSimpleConsole(console => console.ColorBehavior = LoggerColorBehavior.Disabled))))
            {
                await harness.StartAsync();
                await harness.WaitUntilAsync(status => status.DeadLettered == keys.Length);
            }

            // Disposing the host disposed the console logger, which writes out its queue first.
        }
        finally
        {
            Console.SetOut(original);
        }

        string output = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes.ToArray());
        string[] lines = output.Split('\n');

        // Logging went on after the lone surrogate: the last key's dead letter is there.
        Assert.Contains(lines, line => line.Contains("key k5-after) was dead-lettered", StringComparison.Ordinal));

        // No forged line: "forged" appears only on lines that carry the escaped CR/LF before it.
        Assert.Contains(lines, line => line.Contains(@"k1\u000D\u000AERROR|forged|injected line", StringComparison.Ordinal));
        Assert.All(lines.Where(line => line.Contains("forged", StringComparison.Ordinal)), line => Assert.Contains(@"\u000D\u000AERROR|forged", line, StringComparison.Ordinal));

        // No raw terminal escape, bell or lone surrogate.
        Assert.DoesNotContain('\u001b', output);
        Assert.DoesNotContain('\u0007', output);
        Assert.Contains(@"k2\u001B[31mred\u001B]0;title\u0007", output, StringComparison.Ordinal);
        Assert.Contains(@"k3-lone-\uD800-surrogate", output, StringComparison.Ordinal);

        // The 10 KB key is capped wherever it is logged (128 characters as a key, 1,024 inside the handler's exception
        // message), and never appears in full.
        Assert.Contains("k4" + new string('x', 126) + "…(10002 chars)", output, StringComparison.Ordinal);
        Assert.Contains("…(10010 chars)", output, StringComparison.Ordinal);
        Assert.DoesNotContain(new string('x', 1_100), output, StringComparison.Ordinal);
        Assert.All(lines, line => Assert.True(line.Length < 2_000, $"a {line.Length}-character log line"));

        // The dead letters keep the keys exactly, in put order.
        Assert.Equal(keys, sink.Envelopes.OrderBy(letter => letter.SequenceNumber.PadLeft(20, '0'), StringComparer.Ordinal).Select(letter => letter.PartitionKey));
    }
}
