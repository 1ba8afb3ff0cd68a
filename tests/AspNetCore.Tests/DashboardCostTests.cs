using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using StreamLanes.Sinks;
using Xunit.Abstractions;

namespace StreamLanes.AspNetCore.Tests;

/// <summary>
/// The dashboard's page load and refresh against a consumer with 100,000 dead letters, next to one with 100: paging
/// must keep the cost flat (bench/RESULTS.md reports these figures).
/// </summary>
public sealed class DashboardCostTests(ITestOutputHelper output)
{
    private const int Repeats = 40;

    [Fact]
    public async Task The_page_load_and_a_refresh_cost_the_same_with_100_and_100000_dead_letters()
    {
        Costs small = await MeasureAsync(100);
        Costs large = await MeasureAsync(100_000);

        var report = new StringBuilder();
        report.AppendLine("| dead letters | index build (once) | page load: ms / bytes | refresh: ms / bytes | page 1,000 (keyset): ms / bytes | key filter, 10 matches: ms |");
        report.AppendLine("|---:|---:|---:|---:|---:|---:|");
        foreach (Costs c in new[] { small, large })
        {
            report.AppendLine(CultureInfo.InvariantCulture, $"| {c.DeadLetters:N0} | {c.IndexBuildMs:N0} ms | {c.PageLoadMs:N2} / {c.PageLoadBytes:N0} | {c.RefreshMs:N2} / {c.RefreshBytes:N0} | {c.DeepPageMs:N2} / {c.DeepPageBytes:N0} | {c.FilteredMs:N2} |");
        }

        output.WriteLine(report.ToString());
        await File.WriteAllTextAsync(Path.Combine(AppContext.BaseDirectory, "dashboard-cost.md"), report.ToString());

        // Flat: the same bytes (one page), and time within a loose factor of the small store's on a busy machine.
        Assert.InRange(large.RefreshBytes, small.RefreshBytes * 0.9, small.RefreshBytes * 1.1);
        Assert.InRange(large.DeepPageBytes, small.RefreshBytes * 0.5, small.RefreshBytes * 1.1);
        Assert.True(large.RefreshMs < small.RefreshMs * 5 + 5, $"refresh {large.RefreshMs:N2} ms with 100,000 vs {small.RefreshMs:N2} ms with 100");
        Assert.True(large.DeepPageMs < small.RefreshMs * 5 + 5, $"page 1,000 {large.DeepPageMs:N2} ms with 100,000 vs page 1 {small.RefreshMs:N2} ms with 100");
        Assert.True(large.PageLoadMs < small.PageLoadMs * 5 + 5, $"page load {large.PageLoadMs:N2} ms with 100,000 vs {small.PageLoadMs:N2} ms with 100");
    }

    private static async Task<Costs> MeasureAsync(int count)
    {
        var sink = new InMemoryDeadLetterSink();
        DateTimeOffset start = DateTimeOffset.UnixEpoch.AddYears(56);
        byte[] payload = Encoding.UTF8.GetBytes("""{"orderId":123456,"customerId":"customer-00042","amount":28.30,"lines":[{"sku":"A-1","qty":2},{"sku":"B-7","qty":1}]}""");
        for (int i = 0; i < count; i++)
        {
            await sink.WriteAsync(new DeadLetterEnvelope
            {
                Consumer = DashboardTestHost.ParkingConsumer,
                SourceKind = SourceKind.InMemory,
                Stream = "orders-stream",
                Shard = $"shardId-{i % 4:D12}",
                SequenceNumber = (1000 + i).ToString(CultureInfo.InvariantCulture),
                PartitionKey = $"customer-{i % (count / 10):D5}",
                ArrivalTime = start.AddMilliseconds(i),
                Payload = payload,
                Reason = DeadLetterReason.RetriesExhausted,
                Attempts = [new DeadLetterAttempt { Attempt = 1, StartedAt = start, FailedAt = start, ExceptionType = "System.InvalidOperationException", Message = "Downstream rejected the order.", StackTrace = new string('x', 600) }],
                DeadLetteredAt = start.AddMilliseconds(i),
            }, CancellationToken.None);
        }

        await using DashboardTestHost host = await DashboardTestHost.StartAsync(ordersSink: sink);
        using HttpClient client = host.Client("olga", "ops");
        const string page1 = "streamlanes/api/consumers/orders/dead-letters";

        var build = Stopwatch.StartNew();
        JsonElement first = await client.GetFromJsonAsync<JsonElement>(page1);
        double buildMs = build.Elapsed.TotalMilliseconds;
        Assert.Equal(count, first.GetProperty("total").GetInt32());

        // Page 1,000 (or the last one) by following the cursors, as an operator paging back would.
        string? cursor = first.GetProperty("nextCursor").GetString();
        for (int page = 2; page < 1000 && cursor is not null; page++)
        {
            JsonElement next = await client.GetFromJsonAsync<JsonElement>($"{page1}?cursor={Uri.EscapeDataString(cursor)}");
            string? following = next.GetProperty("nextCursor").GetString();
            if (following is null)
            {
                break;
            }

            cursor = following;
        }

        string deep = cursor is null ? page1 : $"{page1}?cursor={Uri.EscapeDataString(cursor)}";
        (double pageLoadMs, long pageLoadBytes) = await TimeAsync(client, "streamlanes", "streamlanes/assets/dashboard.js", "streamlanes/assets/dashboard.css", "streamlanes/api/state", page1);
        (double refreshMs, long refreshBytes) = await TimeAsync(client, "streamlanes/api/state", page1);
        (double stateMs, long stateBytes) = await TimeAsync(client, "streamlanes/api/state");
        (double deepMs, long deepBytes) = await TimeAsync(client, "streamlanes/api/state", deep);
        (double filteredMs, _) = await TimeAsync(client, $"{page1}?key=customer-00007");
        return new Costs(count, buildMs, pageLoadMs, pageLoadBytes, refreshMs, refreshBytes, deepMs - stateMs, deepBytes - stateBytes, filteredMs);
    }

    /// <summary>The median, over <see cref="Repeats"/> rounds, of fetching the paths one after the other (loopback: mostly server time).</summary>
    private static async Task<(double Ms, long Bytes)> TimeAsync(HttpClient client, params string[] paths)
    {
        var samples = new List<double>();
        long bytes = 0;
        for (int round = 0; round < Repeats + 5; round++)
        {
            bytes = 0;
            long started = Stopwatch.GetTimestamp();
            foreach (string path in paths)
            {
                byte[] body = await client.GetByteArrayAsync(path);
                bytes += body.Length;
            }

            if (round >= 5)
            {
                samples.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            }
        }

        samples.Sort();
        return (samples[samples.Count / 2], bytes);
    }

    private sealed record Costs(int DeadLetters, double IndexBuildMs, double PageLoadMs, long PageLoadBytes, double RefreshMs, long RefreshBytes, double DeepPageMs, long DeepPageBytes, double FilteredMs);
}
