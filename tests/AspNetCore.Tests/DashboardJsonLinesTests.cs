using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using StreamLanes.Sinks;

namespace StreamLanes.AspNetCore.Tests;

/// <summary>The dashboard over the embedded default store, a JSON-lines file the consumer holds.</summary>
public sealed class DashboardJsonLinesTests
{
    [Fact]
    public async Task Dead_letters_in_the_consumers_own_file_are_listed_shown_and_replayed_in_order()
    {
        string directory = Directory.CreateTempSubdirectory("streamlanes-dashboard-").FullName;
        string path = Path.Combine(directory, "orders.jsonl");
        try
        {
            await using DashboardTestHost host = await DashboardTestHost.StartAsync(o => o.ShowPayloads = true, jsonLinesPath: path);
            host.Poison.Fail("k");
            string first = host.Orders.Put("k", """{"n":1}""").SequenceNumber;
            string second = host.Orders.Put("k", """{"n":2}""").SequenceNumber;
            await DashboardTestHost.WaitUntilAsync(() => host.Consumer("orders").GetStatus().DeadLettered == 2, "2 dead letters in the file");
            using HttpClient client = host.Client("olga", "ops");

            JsonElement page = await client.GetFromJsonAsync<JsonElement>("streamlanes/api/consumers/orders/dead-letters");
            Assert.Equal(2, page.GetProperty("total").GetInt32());
            string id = page.GetProperty("items").EnumerateArray().Single(i => i.GetProperty("sequenceNumber").GetString() == first).GetProperty("id").GetString()!;
            JsonElement detail = await client.GetFromJsonAsync<JsonElement>($"streamlanes/api/consumers/orders/dead-letter?id={Uri.EscapeDataString(id)}");
            Assert.Equal("""{"n":1}""", detail.GetProperty("payloadText").GetString());

            host.Poison.Fix("k");
            (string header, string token) = await DashboardSecurityTests.TokenOfAsync(client);
            using var replay = new HttpRequestMessage(HttpMethod.Post, "streamlanes/api/consumers/orders/replay") { Content = JsonContent.Create(new { key = "k", dryRun = false }) };
            replay.Headers.Add(header, token);
            HttpResponseMessage response = await client.SendAsync(replay);
            JsonElement result = await response.Content.ReadFromJsonAsync<JsonElement>();

            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(2, result.GetProperty("counts").GetProperty("Replayed").GetInt32());
            Assert.Equal(["k"], result.GetProperty("releasedKeys").EnumerateArray().Select(k => k.GetString()));
            Assert.Equal([$"k:{first}", $"k:{second}"], host.Poison.Handled);
            JsonElement after = await client.GetFromJsonAsync<JsonElement>("streamlanes/api/consumers/orders/dead-letters");
            Assert.Equal(0, after.GetProperty("total").GetInt32());
            Assert.Empty(await new DeadLetterRedriver(host.Consumer("orders").GetDeadLetterStore()).ListAsync());
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
