using StreamLanes.Sinks;

namespace StreamLanes.AspNetCore;

/// <summary>
/// A compact, sorted summary of one consumer's dead letters (no payloads), so that a page of the dashboard costs the
/// same with 100 or 100,000 dead letters: a page is a binary search for its cursor and a walk of one page, never a
/// read of the store. The index is rebuilt from the store (one full read) only when the consumer dead-lettered
/// something since, after an action of the dashboard, or once it is older than its maximum age.
/// </summary>
internal sealed class DeadLetterIndex(IStreamConsumer consumer, TimeProvider time, TimeSpan maxAge) : IDisposable
{
    private readonly SemaphoreSlim _rebuild = new(1, 1);
    private Snapshot? _snapshot;
    private volatile bool _dirty;

    public void Dispose() => _rebuild.Dispose();

    /// <summary>The snapshot last built, stale or not; <see langword="null"/> before the first page was asked for.</summary>
    public Snapshot? Current => Volatile.Read(ref _snapshot);

    /// <summary>Marks the index stale (after a replay, purge or anything else that changed the store).</summary>
    public void Invalidate() => _dirty = true;

    /// <summary>The current snapshot, rebuilt first when stale.</summary>
    public async ValueTask<Snapshot> GetAsync(CancellationToken cancellationToken)
    {
        Snapshot? current = Volatile.Read(ref _snapshot);
        if (current is not null && !IsStale(current))
        {
            return current;
        }

        await _rebuild.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            // Another request may have rebuilt it while this one waited.
            current = Volatile.Read(ref _snapshot);
            if (current is not null && !IsStale(current))
            {
                return current;
            }

            Snapshot built = await BuildAsync(cancellationToken).ConfigureAwait(false);
            Volatile.Write(ref _snapshot, built);
            return built;
        }
        finally
        {
            _rebuild.Release();
        }
    }

    private bool IsStale(Snapshot snapshot)
        => _dirty
            || consumer.GetStatus().DeadLettered != snapshot.DeadLetteredCount
            || time.GetUtcNow() - snapshot.BuiltAt > maxAge;

    private async Task<Snapshot> BuildAsync(CancellationToken cancellationToken)
    {
        // Read first, then clear the flag: a change during the read marks it again and the next request rebuilds.
        _dirty = false;
        long deadLettered = consumer.GetStatus().DeadLettered;
        DateTimeOffset builtAt = time.GetUtcNow();
        IDeadLetterStore store = consumer.GetDeadLetterStore();
        var entries = new List<DeadLetterSummary>();
        var read = new List<StoredDeadLetter>();
        try
        {
            await foreach (StoredDeadLetter letter in store.ReadAsync(new DeadLetterFilter { Consumer = consumer.Name }, cancellationToken).ConfigureAwait(false))
            {
                read.Add(letter);
                entries.Add(DeadLetterSummary.From(letter.Envelope));
            }
        }
        finally
        {
            // An SQS store hides what it returned: give it back at once.
            await store.ReleaseAsync(read, CancellationToken.None).ConfigureAwait(false);
        }

        entries.Sort(DeadLetterSummary.NewestFirst);
        return new Snapshot([.. entries], deadLettered, builtAt);
    }

    /// <summary>An immutable view of the index.</summary>
    internal sealed class Snapshot(DeadLetterSummary[] entries, long deadLetteredCount, DateTimeOffset builtAt)
    {
        private readonly Dictionary<DeadLetterFilter, int> _counts = [];
        private Dictionary<string, int[]>? _byKey;

        public DeadLetterSummary[] Entries { get; } = entries;

        public long DeadLetteredCount { get; } = deadLetteredCount;

        public DateTimeOffset BuiltAt { get; } = builtAt;

        /// <summary>The dead letters of one key, for the blocked and parked key lists (a scan: the index is compact).</summary>
        public DeadLetterSummary? Find(string key, string sequenceNumber)
            => Array.Find(Entries, e => string.Equals(e.PartitionKey, key, StringComparison.Ordinal) && string.Equals(e.SequenceNumber, sequenceNumber, StringComparison.Ordinal));

        /// <summary>
        /// One page after <paramref name="cursor"/> (exclusive), newest first, and the number of matches. The count is
        /// computed once per filter and snapshot, so turning pages costs one page each.
        /// </summary>
        public (IReadOnlyList<DeadLetterSummary> Page, string? NextCursor, int Total) Page(DeadLetterFilter filter, string? cursor, int size)
        {
            int start = 0;
            if (DeadLetterSummary.TryParseCursor(cursor, out DeadLetterSummary? after))
            {
                start = Array.BinarySearch(Entries, after!, DeadLetterSummary.NewestFirst);
                start = start >= 0 ? start + 1 : ~start;
            }

            // A key filter walks only that key's positions, so a page of one key costs one page whatever the total.
            int[]? positions = filter.PartitionKey is null ? null : PositionsOf(filter.PartitionKey);
            int i = positions is null ? start : LowerBound(positions, start);
            int end = positions?.Length ?? Entries.Length;
            var page = new List<DeadLetterSummary>(size);
            for (; i < end && page.Count < size; i++)
            {
                DeadLetterSummary entry = Entries[positions is null ? i : positions[i]];
                if (entry.Matches(filter))
                {
                    page.Add(entry);
                }
            }

            bool more = false;
            for (; i < end && !more; i++)
            {
                more = Entries[positions is null ? i : positions[i]].Matches(filter);
            }

            return (page, more ? page[^1].Cursor : null, Count(filter, positions));
        }

        private int[] PositionsOf(string key)
        {
            Dictionary<string, int[]>? byKey = Volatile.Read(ref _byKey);
            if (byKey is null)
            {
                var building = new Dictionary<string, List<int>>(StringComparer.Ordinal);
                for (int i = 0; i < Entries.Length; i++)
                {
                    if (!building.TryGetValue(Entries[i].PartitionKey, out List<int>? list))
                    {
                        building[Entries[i].PartitionKey] = list = [];
                    }

                    list.Add(i);
                }

                byKey = building.ToDictionary(static p => p.Key, static p => p.Value.ToArray(), StringComparer.Ordinal);
                Volatile.Write(ref _byKey, byKey);
            }

            return byKey.TryGetValue(key, out int[]? positions) ? positions : [];
        }

        private static int LowerBound(int[] positions, int start)
        {
            int found = Array.BinarySearch(positions, start);
            return found >= 0 ? found : ~found;
        }

        private int Count(DeadLetterFilter filter, int[]? positions)
        {
            if (filter == DeadLetterFilter.All)
            {
                return Entries.Length;
            }

            lock (_counts)
            {
                if (_counts.TryGetValue(filter, out int known))
                {
                    return known;
                }
            }

            int count = 0;
            if (positions is not null)
            {
                foreach (int position in positions)
                {
                    count += Entries[position].Matches(filter) ? 1 : 0;
                }
            }
            else
            {
                foreach (DeadLetterSummary entry in Entries)
                {
                    count += entry.Matches(filter) ? 1 : 0;
                }
            }

            lock (_counts)
            {
                // Bounded: a handful of filters per snapshot in practice; never grow without limit.
                if (_counts.Count > 256)
                {
                    _counts.Clear();
                }

                _counts[filter] = count;
            }

            return count;
        }
    }
}

/// <summary>What the dead-letter list shows of one dead letter: no payload, the latest error trimmed.</summary>
internal sealed record DeadLetterSummary(
    string Id,
    string PartitionKey,
    string Shard,
    string SequenceNumber,
    DeadLetterReason Reason,
    IReadOnlyList<string> ExceptionTypes,
    string? LatestError,
    int Attempts,
    DateTimeOffset DeadLetteredAt,
    int PayloadBytes)
{
    public const int MaxErrorLength = 300;

    public static IComparer<DeadLetterSummary> NewestFirst { get; } = Comparer<DeadLetterSummary>.Create(static (a, b) =>
    {
        int byTime = b.DeadLetteredAt.UtcTicks.CompareTo(a.DeadLetteredAt.UtcTicks);
        return byTime != 0 ? byTime : string.CompareOrdinal(a.Id, b.Id);
    });

    /// <summary>An opaque position for keyset paging: the time and id of the last row shown.</summary>
    public string Cursor => $"{DeadLetteredAt.UtcTicks}:{Id}";

    public static DeadLetterSummary From(DeadLetterEnvelope envelope)
    {
        DeadLetterAttempt? last = envelope.Attempts.Count > 0 ? envelope.Attempts[^1] : null;
        string? error = last?.Message;
        if (error is { Length: > MaxErrorLength })
        {
            error = string.Concat(error.AsSpan(0, MaxErrorLength), "…");
        }

        return new DeadLetterSummary(
            envelope.Id,
            envelope.PartitionKey,
            envelope.Shard,
            envelope.SequenceNumber,
            envelope.Reason,
            [.. envelope.Attempts.Select(static a => a.ExceptionType).Distinct(StringComparer.Ordinal)],
            error,
            envelope.Attempts.Count,
            envelope.DeadLetteredAt,
            envelope.Payload.Length);
    }

    public static bool TryParseCursor(string? cursor, out DeadLetterSummary? position)
    {
        position = null;
        int colon = cursor?.IndexOf(':', StringComparison.Ordinal) ?? -1;
        if (colon <= 0 || !long.TryParse(cursor.AsSpan(0, colon), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out long ticks)
            || ticks > DateTimeOffset.MaxValue.UtcTicks)
        {
            return false;
        }

        position = new DeadLetterSummary(cursor![(colon + 1)..], "", "", "", default, [], null, 0, new DateTimeOffset(ticks, TimeSpan.Zero), 0);
        return true;
    }

    /// <summary>The same rules as <see cref="DeadLetterFilter.Matches"/>, on the summary.</summary>
    public bool Matches(DeadLetterFilter filter)
        => (filter.PartitionKey is null || string.Equals(PartitionKey, filter.PartitionKey, StringComparison.Ordinal))
            && (filter.Reason is null || Reason == filter.Reason)
            && (filter.From is null || DeadLetteredAt >= filter.From)
            && (filter.To is null || DeadLetteredAt < filter.To)
            && (filter.ExceptionType is null || ExceptionTypes.Any(t => ExceptionTypeMatches(t, filter.ExceptionType)));

    private static bool ExceptionTypeMatches(string actual, string wanted)
        => string.Equals(actual, wanted, StringComparison.Ordinal)
            || (actual.EndsWith(wanted, StringComparison.Ordinal) && actual.Length > wanted.Length && actual[actual.Length - wanted.Length - 1] is '.' or '+');
}
