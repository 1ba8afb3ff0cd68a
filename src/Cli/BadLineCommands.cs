using System.Globalization;
using System.Text;
using StreamLanes.Sinks;

namespace StreamLanes.Cli;

/// <summary>Unreadable lines of a JSON-lines file: warned about by every command, listed by <c>check</c>, moved aside by <c>quarantine</c>.</summary>
internal static partial class StreamLanesCli
{
    private static async Task<int> BadLinesAsync(System.CommandLine.ParseResult parse, bool quarantine, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        if (parse.GetValue(FileOption) is null)
        {
            await error.WriteLineAsync($"{(quarantine ? "quarantine" : "check")} works on a JSON-lines file: give --file <path>.").ConfigureAwait(false);
            return UsageError;
        }

        await using Store? store = await OpenStoreAsync(parse, error).ConfigureAwait(false);
        if (store?.File is not { } file)
        {
            return UsageError;
        }

        bool dryRun = quarantine && parse.GetValue(DryRunOption);
        if (quarantine && !dryRun && !await TryLockAsync(file, error).ConfigureAwait(false))
        {
            return SomeFailed;
        }

        try
        {
            IReadOnlyList<BadLine> lines = quarantine && !dryRun
                ? await file.QuarantineAsync(cancellationToken).ConfigureAwait(false)
                : (await file.ReadContentAsync(cancellationToken).ConfigureAwait(false)).BadLines;
            string verb = !quarantine ? "unreadable" : dryRun ? "would be moved" : "moved";
            if (parse.GetValue(OutputOption) == "json")
            {
                await output.WriteLineAsync(BadLinesJson(file, lines, quarantine && !dryRun)).ConfigureAwait(false);
            }
            else
            {
                var text = new StringBuilder();
                foreach (BadLine line in lines)
                {
                    text.AppendLine(CultureInfo.InvariantCulture, $"line {line.LineNumber}: {line.Problem}");
                }

                text.AppendLine(CultureInfo.InvariantCulture, $"{lines.Count} unreadable line(s) in {file.Path}{(quarantine && lines.Count > 0 ? $" {verb} to {file.QuarantinePath}" : string.Empty)}");
                await output.WriteAsync(text.ToString()).ConfigureAwait(false);
            }

            return !quarantine && lines.Count > 0 ? SomeFailed : Success;
        }
        catch (IOException ex)
        {
            await error.WriteLineAsync($"error: {ex.Message}").ConfigureAwait(false);
            return SomeFailed;
        }
    }

    private static string BadLinesJson(JsonLinesDeadLetterSink file, IReadOnlyList<BadLine> lines, bool moved) => WriteJson(writer =>
    {
        writer.WriteStartObject();
        writer.WriteString("file", file.Path);
        if (moved)
        {
            writer.WriteString("quarantine", file.QuarantinePath);
        }

        writer.WriteStartArray("unreadableLines");
        foreach (BadLine line in lines)
        {
            writer.WriteStartObject();
            writer.WriteNumber("line", line.LineNumber);
            writer.WriteString("problem", line.Problem);
            writer.WriteEndObject();
        }

        writer.WriteEndArray();
        writer.WriteEndObject();
    });

    /// <summary>Every command on a file says which lines it skipped: nothing is skipped without a word.</summary>
    private static async Task WarnAboutBadLinesAsync(Store store, TextWriter error, CancellationToken cancellationToken)
    {
        if (store.File is not { } file)
        {
            return;
        }

        IReadOnlyList<BadLine> lines = (await file.ReadContentAsync(cancellationToken).ConfigureAwait(false)).BadLines;
        foreach (BadLine line in lines)
        {
            await error.WriteLineAsync($"warning: {file.Path} line {line.LineNumber} is unreadable and was skipped: {line.Problem}. It stays in the file.").ConfigureAwait(false);
        }

        if (lines.Count > 0)
        {
            await error.WriteLineAsync("warning: 'streamlanes dlq check --file <path>' lists unreadable lines; 'dlq quarantine --file <path>' moves them to <path>.quarantine.").ConfigureAwait(false);
        }
    }

    /// <summary>A command that changes a file takes its writer lock first, so it never writes beside a running consumer.</summary>
    private static async Task<bool> TryLockAsync(JsonLinesDeadLetterSink file, TextWriter error)
    {
        try
        {
            file.AcquireWriterLock();
            return true;
        }
        catch (IOException ex)
        {
            await error.WriteLineAsync($"error: {ex.Message} Stop the consumer first, or replay through it.").ConfigureAwait(false);
            return false;
        }
    }

}
