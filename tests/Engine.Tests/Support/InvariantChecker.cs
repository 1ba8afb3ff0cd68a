using System.Text;
using StreamLanes.Sinks;

namespace StreamLanes.Engine.Tests.Support;

/// <summary>
/// Checks DESIGN.md's invariants over what a run produced: nothing lost, per-key order, no overlap per key,
/// dead letters byte-identical to what was put.
/// </summary>
public static class InvariantChecker
{
    public sealed record Report(int Records, int Handled, int DeadLettered, int Duplicates);

    public static Report Check(IEnumerable<StreamRecord> put, RecordingHandler handler, IEnumerable<DeadLetterEnvelope> deadLetters, Func<StreamRecord, string>? keyOf = null)
        => Check(put, [handler], deadLetters, keyOf);

    /// <summary>Checks several runs (e.g. before and after a crash): nothing lost across them, order within each.</summary>
    public static Report Check(IEnumerable<StreamRecord> put, IReadOnlyList<RecordingHandler> runs, IEnumerable<DeadLetterEnvelope> deadLetters, Func<StreamRecord, string>? keyOf = null)
    {
        keyOf ??= static record => record.PartitionKey;
        var records = put.ToList();
        var byId = records.ToDictionary(Id);
        var successes = runs.SelectMany(static run => run.Successes).ToList();
        var letters = deadLetters.ToList();
        var problems = new StringBuilder();

        // Nothing lost: every record handled successfully or dead-lettered at least once.
        var handledIds = successes.Select(call => Id(call.Record)).ToHashSet();
        var letterIds = letters.Select(letter => $"{letter.Shard}/{letter.SequenceNumber}/{letter.SubSequenceNumber}").ToHashSet();
        var lost = records.Where(record => !handledIds.Contains(Id(record)) && !letterIds.Contains(Id(record))).ToList();
        if (lost.Count > 0)
        {
            problems.AppendLine($"{lost.Count} records lost, e.g. {string.Join(", ", lost.Take(5))}");
        }

        // Dead letters carry the exact bytes that were put.
        foreach (DeadLetterEnvelope letter in letters)
        {
            string id = $"{letter.Shard}/{letter.SequenceNumber}/{letter.SubSequenceNumber}";
            if (!byId.TryGetValue(id, out StreamRecord? original))
            {
                problems.AppendLine($"dead letter {id} matches no record put");
            }
            else if (!letter.Payload.Span.SequenceEqual(original.Data.Span) || letter.PartitionKey != original.PartitionKey)
            {
                problems.AppendLine($"dead letter {id} differs from the record put");
            }
        }

        // Per key, within each run: calls in sequence order, and no two calls overlapping.
        foreach (RecordingHandler handler in runs)
        {
            CheckOrder(handler, keyOf, problems);
        }

        int duplicates = successes.Count - handledIds.Count;
        Assert.True(problems.Length == 0, problems.ToString());
        return new Report(records.Count, handledIds.Count, letterIds.Count, duplicates);
    }

    private static void CheckOrder(RecordingHandler handler, Func<StreamRecord, string> keyOf, StringBuilder problems)
    {
        if (handler.Overlaps > 0)
        {
            problems.AppendLine($"{handler.Overlaps} overlapping calls for one key");
        }

        foreach (IGrouping<string, HandlerCall> key in handler.Calls.GroupBy(call => call.Record.ShardId + "|" + keyOf(call.Record)))
        {
            var calls = key.OrderBy(call => call.StartedTicks).ToList();
            for (int i = 1; i < calls.Count; i++)
            {
                if (calls[i].StartedTicks < calls[i - 1].EndedTicks)
                {
                    problems.AppendLine($"key {key.Key}: call for {calls[i].Record.Position} started before the call for {calls[i - 1].Record.Position} ended");
                }

                if (calls[i].Record.Position < calls[i - 1].Record.Position)
                {
                    problems.AppendLine($"key {key.Key}: {calls[i].Record.Position} handled after {calls[i - 1].Record.Position}");
                }
            }
        }
    }

    public static string Id(StreamRecord record) => $"{record.ShardId}/{record.SequenceNumber}/{record.SubSequenceNumber}";
}
