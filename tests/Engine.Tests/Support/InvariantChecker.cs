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
        => Check(put, [.. runs.Select(static run => run.Calls)], runs.Sum(static run => run.Overlaps), deadLetters, keyOf);

    /// <summary>Checks calls recorded anywhere (e.g. by worker processes); <paramref name="overlaps"/> as counted while recording.</summary>
    public static Report Check(IEnumerable<StreamRecord> put, IReadOnlyList<IReadOnlyCollection<HandlerCall>> runs, int overlaps, IEnumerable<DeadLetterEnvelope> deadLetters, Func<StreamRecord, string>? keyOf = null)
    {
        keyOf ??= static record => record.PartitionKey;
        var records = put.ToList();
        var byId = records.ToDictionary(Id);
        var successes = runs.SelectMany(static run => run.Where(static call => call.Succeeded)).ToList();
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

        // No two calls of one key overlapping within a run (across workers, see CountCrossRunOverlaps).
        if (overlaps > 0)
        {
            problems.AppendLine($"{overlaps} overlapping calls for one key");
        }

        // Per key: no call of a record starts before every earlier record of the key was done (handled, or failed for
        // the last time before being dead-lettered). A record handled again later (redelivery after a crash or a lease
        // move) is a duplicate, not an order violation.
        var allCalls = runs.SelectMany(static (run, index) => run.Select(call => (Run: index, Call: call))).ToList();
        foreach (var key in allCalls.GroupBy(x => x.Call.Record.ShardId + "|" + keyOf(x.Call.Record)))
        {
            var byRecord = key.GroupBy(x => x.Call.Record.Position).OrderBy(group => group.Key).ToList();
            long earlierDone = long.MinValue;
            StreamLanes.Checkpointing.SequenceNumber earlierPosition = default;
            foreach (var record in byRecord)
            {
                HandlerCall first = record.Select(x => x.Call).MinBy(call => call.StartedTicks)!;
                if (first.StartedTicks < earlierDone)
                {
                    problems.AppendLine($"key {key.Key}: {record.Key} started before {earlierPosition} was done");
                }

                long done = DoneAt(record.ToList(), letterIds.Contains($"{first.Record.ShardId}/{first.Record.SequenceNumber}/{first.Record.SubSequenceNumber}"));
                if (done > earlierDone)
                {
                    earlierDone = done;
                    earlierPosition = record.Key;
                }
            }
        }

        int duplicates = successes.Count - handledIds.Count;
        Assert.True(problems.Length == 0, problems.ToString());
        return new Report(records.Count, handledIds.Count, letterIds.Count, duplicates);
    }

    /// <summary>
    /// When a record was first done: its first successful call's end; for a dead-lettered record, in each run the end
    /// of the first call with that run's last attempt number, the earliest over the runs; never when neither.
    /// </summary>
    private static long DoneAt(List<(int Run, HandlerCall Call)> calls, bool deadLettered)
    {
        if (calls.Any(x => x.Call.Succeeded))
        {
            return calls.Where(x => x.Call.Succeeded).Min(x => x.Call.EndedTicks);
        }

        if (!deadLettered)
        {
            return long.MaxValue;
        }

        return calls.GroupBy(x => x.Run).Min(run =>
        {
            int last = run.Max(x => x.Call.Attempt);
            return run.Where(x => x.Call.Attempt == last).Min(x => x.Call.EndedTicks);
        });
    }

    /// <summary>Calls of one shard key that overlap in time, over every run together (two owners at once).</summary>
    public static IReadOnlyList<string> CrossRunOverlaps(IEnumerable<HandlerCall> calls, Func<StreamRecord, string>? keyOf = null)
    {
        keyOf ??= static record => record.PartitionKey;
        var found = new List<string>();
        foreach (IGrouping<string, HandlerCall> key in calls.GroupBy(call => call.Record.ShardId + "|" + keyOf(call.Record)))
        {
            long busyUntil = long.MinValue;
            HandlerCall? holder = null;
            foreach (HandlerCall call in key.OrderBy(call => call.StartedTicks))
            {
                if (call.StartedTicks < busyUntil)
                {
                    found.Add($"key {key.Key}: {call.Record.Position} (attempt {call.Attempt}) started while {holder!.Record.Position} (attempt {holder.Attempt}) ran");
                }

                if (call.EndedTicks > busyUntil)
                {
                    busyUntil = call.EndedTicks;
                    holder = call;
                }
            }
        }

        return found;
    }

    public static string Id(StreamRecord record) => $"{record.ShardId}/{record.SequenceNumber}/{record.SubSequenceNumber}";
}
