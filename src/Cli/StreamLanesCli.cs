using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using StreamLanes.Aws;
using StreamLanes.Kinesis;
using StreamLanes.Sqs;
using StreamLanes.Sinks;

namespace StreamLanes.Cli;

/// <summary>
/// The <c>streamlanes</c> command line: <c>dlq list|show|replay|republish|purge|check|quarantine</c> over a dead-letter store.
/// Exit codes: 0 success; 1 some dead letters failed, a service call failed, the file is in use by a running consumer,
/// or (<c>check</c>) the file has unreadable lines; 2 usage error (including a missing <c>--file</c> and a bad URL,
/// region or rate).
/// </summary>
internal static partial class StreamLanesCli
{
    public const int Success = 0;
    public const int SomeFailed = 1;
    public const int UsageError = 2;

    private static readonly Option<string?> FileOption = new("--file") { Description = "A JSON-lines dead-letter file." };
    private static readonly Option<string?> SqsQueueOption = new("--sqs-queue-url") { Description = "An SQS dead-letter queue URL." };
    private static readonly Option<string?> DynamoDbTableOption = new("--dynamodb-table") { Description = "A DynamoDB dead-letter table." };
    private static readonly Option<string?> S3BucketOption = new("--s3-bucket") { Description = "The S3 bucket of claim-checked (oversized) dead letters." };
    private static readonly Option<string?> S3PrefixOption = new("--s3-prefix") { Description = "The claim-check key prefix (default streamlanes/dead-letters/)." };
    private static readonly Option<string?> RegionOption = new("--region") { Description = "The AWS region (default: AWS_REGION, then us-east-1)." };
    private static readonly Option<string?> EndpointOption = new("--endpoint-url") { Description = "One endpoint for every AWS service (e.g. an emulator)." };
    private static readonly Option<string?> SqsEndpointOption = new("--sqs-endpoint-url") { Description = "SQS endpoint (default --endpoint-url)." };
    private static readonly Option<string?> S3EndpointOption = new("--s3-endpoint-url") { Description = "S3 endpoint (default --endpoint-url)." };
    private static readonly Option<string?> DynamoDbEndpointOption = new("--dynamodb-endpoint-url") { Description = "DynamoDB endpoint (default --endpoint-url)." };
    private static readonly Option<string?> KinesisEndpointOption = new("--kinesis-endpoint-url") { Description = "Kinesis endpoint (default --endpoint-url)." };
    private static readonly Option<string?> ConsumerOption = new("--consumer") { Description = "Only this consumer's dead letters." };
    private static readonly Option<string?> KeyOption = new("--key") { Description = "Only this partition key." };
    private static readonly Option<DeadLetterReason?> ReasonOption = new("--reason") { Description = "Only this reason: RetriesExhausted, RecordTooOld, NonRetryable, ParkedBehind." };
    private static readonly Option<string?> ExceptionOption = new("--exception") { Description = "Only dead letters with an attempt that threw this exception type (full or simple name)." };
    private static readonly Option<DateTimeOffset?> FromOption = new("--from") { Description = "Only dead-lettered at or after this time (ISO 8601)." };
    private static readonly Option<DateTimeOffset?> ToOption = new("--to") { Description = "Only dead-lettered before this time (ISO 8601)." };
    private static readonly Option<bool> DryRunOption = new("--dry-run") { Description = "Report what would be done; change nothing." };
    private static readonly Option<double?> RateOption = new("--rate") { Description = "At most this many dead letters per second (0.001 to 100000)." };
    private static readonly Option<string> OutputOption = CreateOutputOption();
    private static readonly Option<string?> IdOption = new("--id") { Description = "show: only the dead letter with this id." };
    private static readonly Option<string?> ToKinesisOption = new("--to-kinesis") { Description = "republish: the target Kinesis stream." };
    private static readonly Option<string?> ToSqsOption = new("--to-sqs") { Description = "republish: the target SQS queue URL." };
    private static readonly Option<bool> AllOption = new("--all") { Description = "purge: allow purging without any filter." };

    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        RootCommand root = Build(output, error);
        ParseResult parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            foreach (System.CommandLine.Parsing.ParseError parseError in parse.Errors)
            {
                await error.WriteLineAsync(parseError.Message).ConfigureAwait(false);
            }

            return UsageError;
        }

        try
        {
            return await parse.InvokeAsync(new InvocationConfiguration { Output = output, Error = error, EnableDefaultExceptionHandler = false }, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // Whatever was not foreseen is still reported as a failure with a message, never as a crash (exit 134).
            await error.WriteLineAsync($"error: {ex.GetType().Name}: {ex.Message}").ConfigureAwait(false);
            return SomeFailed;
        }
    }

    private static Option<string> CreateOutputOption()
    {
        var option = new Option<string>("--output") { Description = "table (default) or json.", DefaultValueFactory = _ => "table" };
        option.AcceptOnlyFromAmong("table", "json");
        return option;
    }

    private static RootCommand Build(TextWriter output, TextWriter error)
    {
        var dlq = new Command("dlq", "Dead letters: list, show, replay (re-publish to their source), republish (to a given target) or purge.");
        Option[] common =
        [
            FileOption, SqsQueueOption, DynamoDbTableOption, S3BucketOption, S3PrefixOption, RegionOption, EndpointOption,
            SqsEndpointOption, S3EndpointOption, DynamoDbEndpointOption, KinesisEndpointOption,
            ConsumerOption, KeyOption, ReasonOption, ExceptionOption, FromOption, ToOption, OutputOption,
        ];
        Option[] redrive = [DryRunOption, RateOption];

        dlq.Add(Verb("list", "List matching dead letters (no payload).", common, [], (p, ct) => ListAsync(p, output, error, showPayload: false, ct)));
        dlq.Add(Verb("show", "Show matching dead letters in full, payload included.", common, [IdOption], (p, ct) => ListAsync(p, output, error, showPayload: true, ct)));
        dlq.Add(Verb("replay", "Re-publish matching dead letters to the stream or queue they came from, in per-key order; delete each once published.", common, redrive, (p, ct) => RedriveAsync(p, "replay", output, error, ct)));
        dlq.Add(Verb("republish", "Re-publish matching dead letters to --to-kinesis or --to-sqs, in per-key order; delete each once published.", common, [.. redrive, ToKinesisOption, ToSqsOption], (p, ct) => RedriveAsync(p, "republish", output, error, ct)));
        dlq.Add(Verb("purge", "Delete matching dead letters (a filter or --all is required).", common, [.. redrive, AllOption], (p, ct) => RedriveAsync(p, "purge", output, error, ct)));
        dlq.Add(Verb("check", "List the unreadable lines of a --file (torn or corrupt), with their line numbers; exit 1 when there are any.", [FileOption, OutputOption], [], (p, ct) => BadLinesAsync(p, quarantine: false, output, error, ct)));
        dlq.Add(Verb("quarantine", "Move the unreadable lines of a --file to <file>.quarantine, so they are kept but no longer read.", [FileOption, OutputOption], [DryRunOption], (p, ct) => BadLinesAsync(p, quarantine: true, output, error, ct)));

        var root = new RootCommand("StreamLanes operator tool. Exit codes: 0 success; 1 some dead letters failed, a service call failed, the file is in use, or check found unreadable lines; 2 usage error.");
        root.Add(dlq);
        return root;
    }

    private static Command Verb(string name, string description, Option[] common, Option[] extra, Func<ParseResult, CancellationToken, Task<int>> action)
    {
        var command = new Command(name, description);
        foreach (Option option in common.Concat(extra))
        {
            command.Add(option);
        }

        command.SetAction(action);
        return command;
    }

    private static async Task<int> ListAsync(ParseResult parse, TextWriter output, TextWriter error, bool showPayload, CancellationToken cancellationToken)
    {
        if (!TryFilter(parse, error, out DeadLetterFilter? filter))
        {
            return UsageError;
        }

        await using Store? store = await OpenStoreAsync(parse, error).ConfigureAwait(false);
        if (store is null)
        {
            return UsageError;
        }

        try
        {
            await WarnAboutBadLinesAsync(store, error, cancellationToken).ConfigureAwait(false);
            IReadOnlyList<DeadLetterEnvelope> letters = await new DeadLetterRedriver(store.DeadLetters).ListAsync(filter, cancellationToken).ConfigureAwait(false);
            if (parse.GetValue(IdOption) is { } id)
            {
                letters = [.. letters.Where(l => l.Id == id)];
            }

            if (parse.GetValue(OutputOption) == "json")
            {
                await output.WriteLineAsync(showPayload ? FullJson(letters) : SummaryJson(letters)).ConfigureAwait(false);
            }
            else
            {
                await output.WriteAsync(showPayload ? FullText(letters) : SummaryTable(letters)).ConfigureAwait(false);
            }

            return Success;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            await error.WriteLineAsync($"error: {ex.Message}").ConfigureAwait(false);
            return SomeFailed;
        }
    }

    private static async Task<int> RedriveAsync(ParseResult parse, string operation, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        if (!TryFilter(parse, error, out DeadLetterFilter? filter))
        {
            return UsageError;
        }

        if (operation == "purge" && filter == DeadLetterFilter.All && !parse.GetValue(AllOption))
        {
            await error.WriteLineAsync("purge needs a filter (--consumer, --key, --reason, --exception, --from, --to) or --all.").ConfigureAwait(false);
            return UsageError;
        }

        string? toKinesis = parse.GetValue(ToKinesisOption);
        string? toSqs = parse.GetValue(ToSqsOption);
        if (operation == "republish" && (toKinesis is null) == (toSqs is null))
        {
            await error.WriteLineAsync("republish needs exactly one target: --to-kinesis <stream> or --to-sqs <queue-url>.").ConfigureAwait(false);
            return UsageError;
        }

        if (parse.GetValue(RateOption) is double rate && rate is not (>= DeadLetterRedriveOptions.MinRatePerSecond and <= DeadLetterRedriveOptions.MaxRatePerSecond))
        {
            await error.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"--rate must be between {DeadLetterRedriveOptions.MinRatePerSecond} (one dead letter per 1000 s) and {DeadLetterRedriveOptions.MaxRatePerSecond} per second; got {rate}.")).ConfigureAwait(false);
            return UsageError;
        }

        var options = new DeadLetterRedriveOptions { Filter = filter, DryRun = parse.GetValue(DryRunOption), RatePerSecond = parse.GetValue(RateOption) };
        try
        {
            options.Validate();
        }
        catch (ArgumentException ex)
        {
            await error.WriteLineAsync(ex.Message).ConfigureAwait(false);
            return UsageError;
        }

        await using Store? store = await OpenStoreAsync(parse, error).ConfigureAwait(false);
        if (store is null)
        {
            return UsageError;
        }

        if (store.File is { } file && !options.DryRun && !await TryLockAsync(file, error).ConfigureAwait(false))
        {
            return SomeFailed;
        }

        try
        {
            await WarnAboutBadLinesAsync(store, error, cancellationToken).ConfigureAwait(false);
            var redriver = new DeadLetterRedriver(store.DeadLetters);
            DeadLetterRedriveReport report;
            if (operation == "purge")
            {
                report = await redriver.PurgeAsync(options, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                using KinesisClient? kinesis = operation == "replay" || toKinesis is not null ? new KinesisClient(AwsOptions(parse, parse.GetValue(KinesisEndpointOption))) : null;
                using SqsClient? sqs = operation == "replay" || toSqs is not null ? new SqsClient(AwsOptions(parse, parse.GetValue(SqsEndpointOption))) : null;
                IDeadLetterRepublisher target = operation == "replay"
                    ? new SourceDeadLetterRepublisher(new Dictionary<SourceKind, IDeadLetterRepublisher>
                    {
                        [SourceKind.Kinesis] = new KinesisDeadLetterRepublisher(kinesis!),
                        [SourceKind.Sqs] = new SqsDeadLetterRepublisher(sqs!),
                    })
                    : toKinesis is not null ? new KinesisDeadLetterRepublisher(kinesis!, toKinesis) : new SqsDeadLetterRepublisher(sqs!, toSqs);
                report = await redriver.RepublishAsAsync(operation, target, options, cancellationToken).ConfigureAwait(false);
            }

            await output.WriteAsync(parse.GetValue(OutputOption) == "json" ? ReportJson(report) + Environment.NewLine : ReportTable(report)).ConfigureAwait(false);
            return report.HasFailures ? SomeFailed : Success;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            await error.WriteLineAsync($"error: {ex.Message}").ConfigureAwait(false);
            return SomeFailed;
        }
    }

    private static bool TryFilter(ParseResult parse, TextWriter error, out DeadLetterFilter filter)
    {
        filter = new DeadLetterFilter
        {
            Consumer = parse.GetValue(ConsumerOption),
            PartitionKey = parse.GetValue(KeyOption),
            Reason = parse.GetValue(ReasonOption),
            ExceptionType = parse.GetValue(ExceptionOption),
            From = parse.GetValue(FromOption),
            To = parse.GetValue(ToOption),
        };
        if (filter is { From: { } from, To: { } to } && from >= to)
        {
            error.WriteLine("--from must be before --to.");
            return false;
        }

        if (filter == new DeadLetterFilter())
        {
            filter = DeadLetterFilter.All;
        }

        return true;
    }

    private static string SummaryJson(IReadOnlyList<DeadLetterEnvelope> letters) => WriteJson(writer =>
    {
        writer.WriteStartArray();
        foreach (DeadLetterEnvelope letter in letters)
        {
            writer.WriteStartObject();
            writer.WriteString("id", letter.Id);
            writer.WriteString("consumer", letter.Consumer);
            writer.WriteString("sourceKind", letter.SourceKind.ToString());
            writer.WriteString("stream", letter.Stream);
            writer.WriteString("shard", letter.Shard);
            writer.WriteString("sequenceNumber", letter.SequenceNumber);
            writer.WriteString("partitionKey", letter.PartitionKey);
            writer.WriteString("reason", letter.Reason.ToString());
            writer.WriteString("deadLetteredAt", letter.DeadLetteredAt);
            writer.WriteNumber("attempts", letter.Attempts.Count);
            writer.WriteString("lastException", letter.Attempts.Count > 0 ? letter.Attempts[^1].ExceptionType : null);
            writer.WriteNumber("payloadBytes", letter.Payload.Length);
            writer.WriteEndObject();
        }

        writer.WriteEndArray();
    });

    private static string FullJson(IReadOnlyList<DeadLetterEnvelope> letters)
        => "[" + string.Join(",", letters.Select(static l => Encoding.UTF8.GetString(DeadLetterEnvelopeSerializer.Serialize(l)))) + "]";

    private static string SummaryTable(IReadOnlyList<DeadLetterEnvelope> letters)
    {
        var rows = letters.Select(static l => new[]
        {
            l.Consumer, l.PartitionKey, l.SequenceNumber, l.Reason.ToString(), l.DeadLetteredAt.ToString("u", CultureInfo.InvariantCulture),
            l.Attempts.Count.ToString(CultureInfo.InvariantCulture), l.Attempts.Count > 0 ? l.Attempts[^1].ExceptionType : "-",
        }).ToList();
        return Table(["CONSUMER", "KEY", "SEQUENCE", "REASON", "DEAD-LETTERED", "ATTEMPTS", "LAST EXCEPTION"], rows) + $"{letters.Count} dead letter(s){Environment.NewLine}";
    }

    private static string FullText(IReadOnlyList<DeadLetterEnvelope> letters)
    {
        var text = new StringBuilder();
        foreach (DeadLetterEnvelope l in letters)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"id:            {SafeText.Escape(l.Id)}");
            text.AppendLine(CultureInfo.InvariantCulture, $"source:        {l.SourceKind} {SafeText.Escape(l.Stream)} {SafeText.Escape(l.Shard)}");
            text.AppendLine(CultureInfo.InvariantCulture, $"key:           {SafeText.Escape(l.PartitionKey)}");
            text.AppendLine(CultureInfo.InvariantCulture, $"reason:        {l.Reason}");
            text.AppendLine(CultureInfo.InvariantCulture, $"dead-lettered: {l.DeadLetteredAt:O}");
            foreach (DeadLetterAttempt a in l.Attempts)
            {
                text.AppendLine(CultureInfo.InvariantCulture, $"attempt {a.Attempt}:     {a.FailedAt:O} {SafeText.Escape(a.ExceptionType)}: {SafeText.Escape(a.Message, SafeText.MessageMaxLength)}");
            }

            text.AppendLine(CultureInfo.InvariantCulture, $"payload:       {l.Payload.Length} bytes, base64 {Convert.ToBase64String(l.Payload.Span)}");
            text.AppendLine();
        }

        text.AppendLine(CultureInfo.InvariantCulture, $"{letters.Count} dead letter(s)");
        return text.ToString();
    }

    private static string ReportJson(DeadLetterRedriveReport report) => WriteJson(writer =>
    {
        writer.WriteStartObject();
        writer.WriteString("operation", report.Operation);
        writer.WriteBoolean("dryRun", report.DryRun);
        writer.WriteStartObject("counts");
        foreach ((DeadLetterOutcome outcome, int count) in report.Counts.OrderBy(static c => c.Key))
        {
            writer.WriteNumber(outcome.ToString(), count);
        }

        writer.WriteEndObject();
        writer.WriteStartArray("items");
        foreach (DeadLetterRedriveItem item in report.Items)
        {
            writer.WriteStartObject();
            writer.WriteString("id", item.Id);
            writer.WriteString("consumer", item.Consumer);
            writer.WriteString("partitionKey", item.PartitionKey);
            writer.WriteString("sequenceNumber", item.SequenceNumber);
            writer.WriteString("outcome", item.Outcome.ToString());
            writer.WriteString("error", item.Error);
            writer.WriteEndObject();
        }

        writer.WriteEndArray();
        writer.WriteEndObject();
    });

    private static string ReportTable(DeadLetterRedriveReport report)
    {
        var rows = report.Items.Select(static i => new[] { i.Consumer, i.PartitionKey, i.SequenceNumber, i.Outcome.ToString(), i.Error ?? string.Empty }).ToList();
        string counts = string.Join(", ", report.Counts.OrderBy(static c => c.Key).Select(static c => $"{c.Key}: {c.Value}"));
        return Table(["CONSUMER", "KEY", "SEQUENCE", "OUTCOME", "ERROR"], rows)
            + $"{report.Operation}{(report.DryRun ? " (dry run)" : string.Empty)}: {(counts.Length == 0 ? "nothing matched" : counts)}{Environment.NewLine}";
    }

    private static string Table(string[] headers, List<string[]> rows)
    {
        // Cells come from dead letters that anyone able to write to the store chose: escaped (no ESC sequence, CR/LF or
        // bidi override reaches the terminal) and capped before they are measured. --output json has the exact values.
        rows = [.. rows.Select(static row => row.Select(static cell => SafeText.Escape(cell)).ToArray())];
        int[] widths = [.. headers.Select((h, i) => Math.Min(60, rows.Select(r => r[i].Length).Append(h.Length).Max()))];
        var text = new StringBuilder();
        foreach (string[] row in rows.Prepend(headers))
        {
            text.AppendJoin("  ", row.Select((cell, i) => (cell.Length > widths[i] ? cell[..(widths[i] - 1)] + "…" : cell).PadRight(widths[i]))).Append(Environment.NewLine);
        }

        return text.ToString();
    }

    private static string WriteJson(Action<Utf8JsonWriter> write)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            write(writer);
        }

        return Encoding.UTF8.GetString(buffer.ToArray());
    }
}
