using StreamLanes.Sinks;

namespace StreamLanes.AspNetCore.Tests;

public sealed class DeadLetterIndexTests
{
    [Theory]
    [InlineData(null, null)]
    [InlineData("key-3", null)]
    [InlineData(null, DeadLetterReason.ParkedBehind)]
    [InlineData("key-5", DeadLetterReason.RetriesExhausted)]
    public void Paging_by_cursor_returns_every_match_once_newest_first(string? key, DeadLetterReason? reason)
    {
        // Many dead letters share a timestamp: the cursor must break ties by id, or pages would skip or repeat.
        DateTimeOffset t0 = DateTimeOffset.UnixEpoch;
        DeadLetterSummary[] entries = [.. Enumerable.Range(0, 1_000)
            .Select(i => new DeadLetterSummary($"orders/s/shard/{i}/0", $"key-{i % 7}", "shard", i.ToString(System.Globalization.CultureInfo.InvariantCulture),
                i % 3 == 0 ? DeadLetterReason.ParkedBehind : DeadLetterReason.RetriesExhausted, ["System.Exception"], "boom", 1, t0.AddSeconds(i / 10), 10))
            .OrderBy(_ => Random.Shared.Next())];
        Array.Sort(entries, DeadLetterSummary.NewestFirst);
        var snapshot = new DeadLetterIndex.Snapshot(entries, 0, t0);
        var filter = new DeadLetterFilter { PartitionKey = key, Reason = reason };
        string[] expected = [.. entries.Where(e => e.Matches(filter)).Select(e => e.Id)];

        var seen = new List<string>();
        string? cursor = null;
        int pages = 0;
        do
        {
            (IReadOnlyList<DeadLetterSummary> page, string? next, int total) = snapshot.Page(filter, cursor, 7);
            Assert.Equal(expected.Length, total);
            Assert.True(page.Count == 7 || next is null, "only the last page may be short");
            seen.AddRange(page.Select(e => e.Id));
            cursor = next;
            Assert.True(++pages <= expected.Length / 7 + 1, "paging must end");
        }
        while (cursor is not null);

        Assert.Equal(expected, seen);
    }

    [Fact]
    public void A_cursor_that_is_not_one_starts_at_the_first_page()
    {
        DeadLetterSummary entry = new("id", "k", "s", "1", DeadLetterReason.NonRetryable, [], null, 0, DateTimeOffset.UnixEpoch, 0);
        var snapshot = new DeadLetterIndex.Snapshot([entry], 0, DateTimeOffset.UnixEpoch);

        foreach (string cursor in new[] { "", "x", ":id", "-1:id", "99999999999999999999:id" })
        {
            Assert.Equal("id", Assert.Single(snapshot.Page(DeadLetterFilter.All, cursor, 10).Page).Id);
        }
    }
}
