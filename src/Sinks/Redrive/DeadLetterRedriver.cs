using System.Collections.Concurrent;
using System.Globalization;
using System.Numerics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace StreamLanes.Sinks;

/// <summary>
/// Reads dead letters back from an <see cref="IDeadLetterStore"/> and lists, replays, re-publishes or purges those
/// that match a filter, with dry run, a rate limit and a report.
/// </summary>
/// <remarks>
/// <para>Per-key order: a consumer's dead letters of one partition key are acted on one at a time in sequence order
/// (sequence number compared numerically, then sub-sequence). When one fails, the key's later dead letters are not
/// attempted (<see cref="DeadLetterOutcome.SkippedBehindFailure"/>), so none overtakes it. Different keys run concurrently
/// up to <see cref="DeadLetterRedriveOptions.MaxConcurrentKeys"/>.</para>
/// <para>Rounds: after a round that deleted something the store is read again, because an SQS FIFO queue shows a
/// message group's later messages only once its earlier ones are gone. Keys that failed are left alone in later
/// rounds. The redrive ends after a round that deleted nothing.</para>
/// </remarks>
public sealed class DeadLetterRedriver
{
    private const int MaxRounds = 10_000;
    private readonly IDeadLetterStore _store;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger _logger;

    /// <summary>Creates a redriver over a store.</summary>
    /// <param name="store">The dead letters.</param>
    /// <param name="timeProvider">The clock for the rate limit; <see cref="TimeProvider.System"/> when <see langword="null"/>.</param>
    /// <param name="logger">For outcomes; none when <see langword="null"/>.</param>
    public DeadLetterRedriver(IDeadLetterStore store, TimeProvider? timeProvider = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        _store = store;
        _timeProvider = timeProvider ?? TimeProvider.System;
        _logger = logger ?? NullLogger.Instance;
    }

    /// <summary>Lists the dead letters that match, in per-key sequence order (by consumer, then key), and releases them.</summary>
    /// <param name="filter">Which dead letters; all when <see langword="null"/>.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The matching dead letters.</returns>
    public async Task<IReadOnlyList<DeadLetterEnvelope>> ListAsync(DeadLetterFilter? filter = null, CancellationToken cancellationToken = default)
    {
        List<StoredDeadLetter> read = await ReadAllAsync(filter ?? DeadLetterFilter.All, cancellationToken).ConfigureAwait(false);
        await _store.ReleaseAsync(read, cancellationToken).ConfigureAwait(false);
        return [.. Collapse(read).Select(static d => d.Letter.Envelope).OrderBy(static e => e, EnvelopeOrder.Instance)];
    }

    /// <summary>Deletes the dead letters that match.</summary>
    /// <param name="options">Filter, dry run and rate.</param>
    /// <param name="cancellationToken">Cancels the purge; what was deleted stays deleted.</param>
    /// <returns>The report.</returns>
    public Task<DeadLetterRedriveReport> PurgeAsync(DeadLetterRedriveOptions options, CancellationToken cancellationToken = default)
        => RunAsync("purge", options, static (_, _) => ValueTask.FromResult(DeadLetterReplayResult.Success), DeadLetterOutcome.Purged, null, cancellationToken);

    /// <summary>Writes the matching dead letters' records back to a stream or queue, in per-key order, deleting each once published.</summary>
    /// <param name="target">Where to publish.</param>
    /// <param name="options">Filter, dry run and rate.</param>
    /// <param name="cancellationToken">Cancels the re-publish.</param>
    /// <returns>The report.</returns>
    public Task<DeadLetterRedriveReport> RepublishAsync(IDeadLetterRepublisher target, DeadLetterRedriveOptions options, CancellationToken cancellationToken = default)
        => RepublishAsAsync("republish", target, options, cancellationToken);

    /// <summary>Re-publishes as <see cref="RepublishAsync"/>, reported under another operation name (the CLI's <c>replay</c> to the source).</summary>
    internal Task<DeadLetterRedriveReport> RepublishAsAsync(string operation, IDeadLetterRepublisher target, DeadLetterRedriveOptions options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(target);
        return RunAsync(
            operation,
            options,
            async (envelope, ct) =>
            {
                System.Diagnostics.Activity? span = RedriveTracing.StartRepublish(envelope);
                try
                {
                    await target.RepublishAsync(envelope, ct).ConfigureAwait(false);
                }
                catch (Exception ex)
                {
                    RedriveTracing.End(span, ex);
                    throw;
                }

                RedriveTracing.End(span, null);
                return DeadLetterReplayResult.Success;
            },
            DeadLetterOutcome.Republished,
            null,
            cancellationToken);
    }

    /// <summary>
    /// Replays the matching dead letters through the consumer's handler, in per-key sequence order. Each that succeeds
    /// is deleted; each that fails again stays, with the new attempts appended, and its key's later dead letters are
    /// skipped. A key whose store holds no dead letter any more afterwards is reported to the replayer, which releases it
    /// when the consumer parked it.
    /// </summary>
    /// <param name="replayer">The consumer's replayer; only its consumer's dead letters are replayed.</param>
    /// <param name="options">Filter, dry run and rate. A filter naming another consumer is an error.</param>
    /// <param name="cancellationToken">Cancels the replay.</param>
    /// <returns>The report.</returns>
    /// <exception cref="ArgumentException">The filter names another consumer than the replayer's.</exception>
    public Task<DeadLetterRedriveReport> ReplayAsync(IDeadLetterReplayer replayer, DeadLetterRedriveOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(replayer);
        ArgumentNullException.ThrowIfNull(options);
        if (options.Filter?.Consumer is { } consumer && !string.Equals(consumer, replayer.Consumer, StringComparison.Ordinal))
        {
            throw new ArgumentException($"The filter selects consumer '{consumer}', but the replayer hands dead letters to consumer '{replayer.Consumer}'.", nameof(options));
        }

        var scoped = new DeadLetterRedriveOptions
        {
            Filter = (options.Filter ?? DeadLetterFilter.All) with { Consumer = replayer.Consumer },
            DryRun = options.DryRun,
            RatePerSecond = options.RatePerSecond,
            MaxConcurrentKeys = options.MaxConcurrentKeys,
        };
        return RunAsync("replay", scoped, replayer.ReplayAsync, DeadLetterOutcome.Replayed, replayer, cancellationToken);
    }

    private async Task<DeadLetterRedriveReport> RunAsync(
        string operation,
        DeadLetterRedriveOptions options,
        Func<DeadLetterEnvelope, CancellationToken, ValueTask<DeadLetterReplayResult>> action,
        DeadLetterOutcome successOutcome,
        IDeadLetterReplayer? replayer,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var items = new ConcurrentQueue<DeadLetterRedriveItem>();
        var failedKeys = new ConcurrentDictionary<(string Consumer, string Key), bool>();
        var drainedCandidates = new ConcurrentDictionary<(string Consumer, string Key), DeadLetterEnvelope>();
        var rate = new RateGate(options.RatePerSecond, _timeProvider);
        var reported = new ConcurrentDictionary<string, bool>(StringComparer.Ordinal);

        for (int round = 0; round < MaxRounds; round++)
        {
            List<StoredDeadLetter> read = await ReadAllAsync(options.Filter, cancellationToken).ConfigureAwait(false);
            var keep = new ConcurrentBag<StoredDeadLetter>();
            int deleted = 0;
            var groups = Collapse(read)
                .GroupBy(static d => (d.Letter.Envelope.Consumer, d.Letter.Envelope.PartitionKey))
                .Select(static g => (g.Key, Letters: g.OrderBy(static d => d.Letter.Envelope, EnvelopeOrder.Instance).ToList()))
                .ToList();
            try
            {
                await Parallel.ForEachAsync(
                    groups,
                    new ParallelOptions { MaxDegreeOfParallelism = options.MaxConcurrentKeys, CancellationToken = cancellationToken },
                    async (group, ct) =>
                    {
                        bool failed = failedKeys.ContainsKey(group.Key);
                        foreach ((StoredDeadLetter letter, IReadOnlyList<StoredDeadLetter> copies) in group.Letters)
                        {
                            DeadLetterEnvelope envelope = letter.Envelope;
                            if (options.DryRun || failed)
                            {
                                // Kept as it is; reported once, even when a later round reads it again.
                                keep.Add(letter);
                                AddAll(keep, copies);
                                if (reported.TryAdd(envelope.Id, true))
                                {
                                    Report(items, operation, envelope, options.DryRun ? DeadLetterOutcome.DryRun : DeadLetterOutcome.SkippedBehindFailure, null);
                                }

                                continue;
                            }

                            await rate.WaitAsync(ct).ConfigureAwait(false);
                            string? error;
                            try
                            {
                                DeadLetterReplayResult result = await action(envelope, ct).ConfigureAwait(false);
                                if (result.Succeeded)
                                {
                                    // Every copy goes: a duplicate left behind would be acted on again by the next redrive.
                                    await _store.DeleteAsync(letter, ct).ConfigureAwait(false);
                                    await DeleteAllAsync(copies, ct).ConfigureAwait(false);
                                    Interlocked.Increment(ref deleted);
                                    reported[envelope.Id] = true;
                                    Report(items, operation, envelope, successOutcome, null);
                                    drainedCandidates[group.Key] = envelope;
                                    continue;
                                }

                                DeadLetterEnvelope again = envelope with { Attempts = [.. envelope.Attempts, .. result.FailedAttempts] };
                                await _store.ReplaceAsync(letter, again, ct).ConfigureAwait(false);
                                await DeleteAllAsync(copies, ct).ConfigureAwait(false);
                                DeadLetterAttempt last = result.FailedAttempts[^1];
                                error = $"{last.ExceptionType}: {last.Message}";
                            }
                            catch (Exception ex) when (ex is not OperationCanceledException || !ct.IsCancellationRequested)
                            {
                                keep.Add(letter);
                                AddAll(keep, copies);
                                error = $"{ex.GetType().FullName}: {ex.Message}";
                            }

                            failed = true;
                            failedKeys[group.Key] = true;
                            drainedCandidates.TryRemove(group.Key, out _);
                            reported[envelope.Id] = true;
                            SinkLog.RedriveFailed(_logger, operation, SafeText.Escape(envelope.Id), SafeText.Escape(envelope.PartitionKey), SafeText.Escape(error, SafeText.MessageMaxLength));
                            Report(items, operation, envelope, DeadLetterOutcome.Failed, error);
                        }
                    }).ConfigureAwait(false);
            }
            finally
            {
                await _store.ReleaseAsync([.. keep], CancellationToken.None).ConfigureAwait(false);
            }

            if (options.DryRun || deleted == 0)
            {
                break;
            }
        }

        var released = new List<string>();
        if (replayer is not null && !options.DryRun)
        {
            foreach (((string consumer, string key), DeadLetterEnvelope last) in drainedCandidates)
            {
                if (failedKeys.ContainsKey((consumer, key)))
                {
                    continue;
                }

                // Released only when nothing at all is left for the key, whatever the filter selected: a parked key's
                // remaining dead letters would otherwise be overtaken by its next live records.
                List<StoredDeadLetter> left = await ReadAllAsync(new DeadLetterFilter { Consumer = consumer, PartitionKey = key }, cancellationToken).ConfigureAwait(false);
                await _store.ReleaseAsync(left, cancellationToken).ConfigureAwait(false);
                if (left.Count == 0 && await replayer.KeyDrainedAsync(last, cancellationToken).ConfigureAwait(false))
                {
                    SinkLog.KeyReleased(_logger, SafeText.Escape(consumer), SafeText.Escape(key));
                    released.Add(key);
                }
            }
        }

        return new DeadLetterRedriveReport { Operation = operation, DryRun = options.DryRun, Items = [.. items], ReleasedKeys = released };
    }

    private void Report(ConcurrentQueue<DeadLetterRedriveItem> items, string operation, DeadLetterEnvelope envelope, DeadLetterOutcome outcome, string? error)
    {
        items.Enqueue(new DeadLetterRedriveItem(envelope.Id, envelope.Consumer, envelope.PartitionKey, envelope.SequenceNumber, envelope.Reason, outcome, error));
        SinkLog.RedriveOutcome(_logger, operation, SafeText.Escape(envelope.Id), SafeText.Escape(envelope.PartitionKey), outcome);
    }

    /// <summary>
    /// One entry per dead-letter id: a crash between a dead letter's write and the checkpoint writes it again, so a
    /// store may hold copies. The last one read stands for the id; the others are deleted with it.
    /// </summary>
    private static List<(StoredDeadLetter Letter, IReadOnlyList<StoredDeadLetter> Copies)> Collapse(List<StoredDeadLetter> read)
        => [.. read
            .GroupBy(static d => d.Envelope.Id, StringComparer.Ordinal)
            .Select(static g => (g.Last(), (IReadOnlyList<StoredDeadLetter>)[.. g.SkipLast(1)]))];

    private static void AddAll(ConcurrentBag<StoredDeadLetter> bag, IReadOnlyList<StoredDeadLetter> letters)
    {
        foreach (StoredDeadLetter letter in letters)
        {
            bag.Add(letter);
        }
    }

    private async Task DeleteAllAsync(IReadOnlyList<StoredDeadLetter> letters, CancellationToken cancellationToken)
    {
        foreach (StoredDeadLetter letter in letters)
        {
            await _store.DeleteAsync(letter, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task<List<StoredDeadLetter>> ReadAllAsync(DeadLetterFilter filter, CancellationToken cancellationToken)
    {
        var read = new List<StoredDeadLetter>();
        await foreach (StoredDeadLetter letter in _store.ReadAsync(filter, cancellationToken).ConfigureAwait(false))
        {
            read.Add(letter);
        }

        return read;
    }

    /// <summary>Sequence order within a key: consumer, key, then the sequence number as a number, then the sub-sequence.</summary>
    internal sealed class EnvelopeOrder : IComparer<DeadLetterEnvelope>
    {
        public static readonly EnvelopeOrder Instance = new();

        public int Compare(DeadLetterEnvelope? x, DeadLetterEnvelope? y)
        {
            if (ReferenceEquals(x, y))
            {
                return 0;
            }

            if (x is null || y is null)
            {
                return x is null ? -1 : 1;
            }

            int c = string.CompareOrdinal(x.Consumer, y.Consumer);
            if (c == 0)
            {
                c = string.CompareOrdinal(x.PartitionKey, y.PartitionKey);
            }

            if (c == 0)
            {
                c = CompareSequence(x.SequenceNumber, y.SequenceNumber);
            }

            return c != 0 ? c : x.SubSequenceNumber.CompareTo(y.SubSequenceNumber);
        }

        private static int CompareSequence(string x, string y)
            => BigInteger.TryParse(x, NumberStyles.None, CultureInfo.InvariantCulture, out BigInteger a)
                && BigInteger.TryParse(y, NumberStyles.None, CultureInfo.InvariantCulture, out BigInteger b)
                ? a.CompareTo(b)
                : string.CompareOrdinal(x, y);
    }

    /// <summary>Spaces actions evenly at a rate, over every caller.</summary>
    private sealed class RateGate(double? ratePerSecond, TimeProvider timeProvider)
    {
        private readonly Lock _lock = new();
        private long _nextTicks;

        public Task WaitAsync(CancellationToken cancellationToken)
        {
            if (ratePerSecond is not double rate)
            {
                return Task.CompletedTask;
            }

            long interval = (long)(TimeSpan.TicksPerSecond / rate);
            long now = timeProvider.GetUtcNow().UtcTicks;
            long slot;
            lock (_lock)
            {
                slot = Math.Max(now, _nextTicks);
                _nextTicks = slot + interval;
            }

            return slot <= now ? Task.CompletedTask : Task.Delay(TimeSpan.FromTicks(slot - now), timeProvider, cancellationToken);
        }
    }
}
