using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using StreamLanes.Sinks;

namespace StreamLanes.AspNetCore;

internal static class DashboardJson
{
    public static JsonSerializerOptions Options { get; } = new(JsonSerializerDefaults.Web)
    {
        Converters = { new JsonStringEnumConverter() },
    };
}

/// <summary>What the page refreshes: every consumer, with its shards, blocked and parked keys and history.</summary>
internal sealed record DashboardState(DateTimeOffset GeneratedAt, bool ShowPayloads, int RefreshMilliseconds, IReadOnlyList<ConsumerView> Consumers);

internal sealed record ConsumerView
{
    public required string Name { get; init; }
    public required string SourceKind { get; init; }
    public required string Stream { get; init; }
    public required string State { get; init; }
    public required string Health { get; init; }
    public string? HealthDescription { get; init; }
    public required string FailureMode { get; init; }
    public string? WorkerId { get; init; }
    public required double RecordsPerSecond { get; init; }
    public required long Received { get; init; }
    public required long Handled { get; init; }
    public required long Retries { get; init; }
    public required long DeadLetters { get; init; }
    public required int Buffered { get; init; }
    public required int ActiveLanes { get; init; }
    public required int BlockedLanes { get; init; }
    public required long CheckpointLag { get; init; }
    public long? MillisBehindLatest { get; init; }
    public required int SinkFailures { get; init; }
    public required IReadOnlyList<ShardReaderFault> ReaderFaults { get; init; }
    public required IReadOnlyList<ShardView> Shards { get; init; }
    public required IReadOnlyList<BlockedKeyDetails> BlockedKeys { get; init; }
    public required IReadOnlyList<ParkedKeyView> ParkedKeys { get; init; }
    public required int ParkedKeyCount { get; init; }
    public required IReadOnlyList<HistorySample> History { get; init; }

    public static ConsumerView From(StreamConsumerDetails details, HealthReportEntry? health, DashboardHost host, IStreamConsumer consumer)
    {
        StreamConsumerStatus status = details.Status;
        IReadOnlyList<HistorySample> history = host.HistoryOf(details.Status.Name);
        ShardView[] shards = [.. details.Shards.Select(s => new ShardView(s, host.MillisBehindLatest(status.Name, s.ShardId)))];
        long? behind = shards.Select(static s => s.MillisBehindLatest).Max();

        // The parking dead letter's error comes from the index as last built: the refresh never reads the store itself.
        DeadLetterIndex.Snapshot? index = host.IndexOf(consumer).Current;
        return new ConsumerView
        {
            Name = status.Name,
            SourceKind = details.SourceKind.ToString(),
            Stream = details.StreamName,
            State = status.Fault is not null ? "Faulted" : status.Running ? "Running" : "Stopped",
            Health = health?.Status.ToString() ?? "Unknown",
            HealthDescription = health?.Description,
            FailureMode = details.FailureMode.ToString(),
            WorkerId = details.WorkerId,
            RecordsPerSecond = history.Count > 0 ? Math.Round(history[^1].HandledPerSecond, 1) : 0,
            Received = status.Received,
            Handled = status.Handled,
            Retries = status.Retried,
            DeadLetters = status.DeadLettered,
            Buffered = status.Buffered,
            ActiveLanes = status.ActiveLanes,
            BlockedLanes = status.BlockedLanes,
            CheckpointLag = status.CheckpointLag,
            MillisBehindLatest = behind,
            SinkFailures = status.ConsecutiveSinkFailures,
            ReaderFaults = status.ReaderFaults,
            Shards = shards,
            BlockedKeys = details.BlockedKeys,
            ParkedKeys = [.. details.ParkedKeys.Select(p => ParkedKeyView.From(p, index?.Find(p.Key, p.ParkedBySequenceNumber)))],
            ParkedKeyCount = details.ParkedKeyCount,
            History = history,
        };
    }
}

internal sealed record ShardView(string ShardId, string? LeaseOwner, string? Checkpoint, int Buffered, int ActiveLanes, int BlockedLanes, long CheckpointLag, long? MillisBehindLatest)
{
    public ShardView(ShardDetails shard, long? behind)
        : this(shard.ShardId, shard.LeaseOwner, shard.Checkpoint, shard.Buffered, shard.ActiveLanes, shard.BlockedLanes, shard.CheckpointLag, behind)
    {
    }
}

internal sealed record ParkedKeyView(string Key, string ParkedBySequenceNumber, int? Attempts, string? LatestExceptionType, string? LatestError, DateTimeOffset? DeadLetteredAt)
{
    public static ParkedKeyView From(ParkedKeyDetails parked, DeadLetterSummary? letter)
        => new(parked.Key, parked.ParkedBySequenceNumber, letter?.Attempts, letter is { ExceptionTypes.Count: > 0 } ? letter.ExceptionTypes[^1] : null, letter?.LatestError, letter?.DeadLetteredAt);
}

internal sealed record DeadLetterPage(int Total, string? NextCursor, DateTimeOffset IndexedAt, IReadOnlyList<DeadLetterSummary> Items);

/// <summary>A selection of dead letters for an action (and the dry run that precedes it).</summary>
internal sealed record SelectionRequest
{
    public string? Key { get; init; }
    public string? Reason { get; init; }
    public string? Exception { get; init; }
    public string? From { get; init; }
    public string? To { get; init; }
    public bool DryRun { get; init; }
    public bool All { get; init; }
}

internal sealed record ReleaseRequest(string? Key, bool DryRun);

internal sealed record ReleaseResult(bool DryRun, bool Parked, string? ParkedBySequenceNumber, int DeadLetters, bool Released);

internal sealed record ActionItem(string Id, string PartitionKey, string SequenceNumber, DeadLetterOutcome Outcome, string? Error);

internal sealed record ActionResult(string Operation, bool DryRun, int Total, int Keys, IReadOnlyDictionary<DeadLetterOutcome, int> Counts, IReadOnlyList<string> ReleasedKeys, IReadOnlyList<ActionItem> Items)
{
    public static ActionResult From(DeadLetterRedriveReport report, int maxItems)
        => new(
            report.Operation,
            report.DryRun,
            report.Items.Count,
            report.Items.Select(static i => i.PartitionKey).Distinct(StringComparer.Ordinal).Count(),
            report.Counts,
            report.ReleasedKeys,
            [.. report.Items.Take(maxItems).Select(static i => new ActionItem(i.Id, i.PartitionKey, i.SequenceNumber, i.Outcome, i.Error))]);
}
