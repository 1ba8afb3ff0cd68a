using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace StreamLanes.AspNetCore.Tests;

/// <summary>Who may see and act: authorization, antiforgery, payload visibility, escaping.</summary>
public sealed partial class DashboardSecurityTests
{
    private const string ParkedKey = "parked-key";

    [Theory]
    [InlineData("streamlanes")]
    [InlineData("streamlanes/api/state")]
    [InlineData("streamlanes/api/consumers/orders/dead-letters")]
    [InlineData("streamlanes/assets/dashboard.js")]
    public async Task An_anonymous_request_gets_401_and_a_user_without_the_policy_gets_403(string path)
    {
        await using DashboardTestHost host = await DashboardTestHost.StartAsync();
        using HttpClient anonymous = host.Client();
        using HttpClient stranger = host.Client("mallory", "sales");
        using HttpClient operatorClient = host.Client("olga", "ops");

        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync(path)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await stranger.GetAsync(path)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await operatorClient.GetAsync(path)).StatusCode);
    }

    [Fact]
    public async Task Anonymous_and_unauthorized_actions_are_refused_and_change_nothing()
    {
        await using DashboardTestHost host = await ParkAKeyAsync();
        using HttpClient anonymous = host.Client();
        using HttpClient stranger = host.Client("mallory", "sales");
        var body = JsonContent.Create(new { key = ParkedKey, dryRun = false });

        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.PostAsync("streamlanes/api/consumers/orders/release", body)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await stranger.PostAsync("streamlanes/api/consumers/orders/release", body)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await stranger.PostAsync("streamlanes/api/consumers/orders/purge", JsonContent.Create(new { all = true }))).StatusCode);
        Assert.True(host.Consumer("orders").ParkedKeys.ContainsKey(ParkedKey));
        Assert.NotEmpty(host.OrdersSink.Envelopes);
    }

    [Fact]
    public async Task A_dashboard_mapped_without_an_authorization_policy_refuses_everyone()
    {
        await using DashboardTestHost host = await DashboardTestHost.StartAsync(requireAuthorization: false);
        using HttpClient operatorClient = host.Client("olga", "ops");

        HttpResponseMessage response = await operatorClient.GetAsync("streamlanes/api/state");

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Contains("RequireAuthorization", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_forged_action_without_or_with_a_foreign_antiforgery_token_is_refused()
    {
        await using DashboardTestHost host = await ParkAKeyAsync();
        using HttpClient victim = host.Client("olga", "ops");
        using HttpClient attacker = host.Client("olga", "ops");

        // No token at all: what a cross-site form or fetch riding on the operator's cookie would send.
        HttpResponseMessage noToken = await victim.PostAsync("streamlanes/api/consumers/orders/release", JsonContent.Create(new { key = ParkedKey, dryRun = false }));

        // A token the attacker obtained in his own session, replayed with the victim's cookies.
        (string header, string attackerToken) = await TokenOfAsync(attacker);
        await TokenOfAsync(victim);
        using var forged = new HttpRequestMessage(HttpMethod.Post, "streamlanes/api/consumers/orders/release") { Content = JsonContent.Create(new { key = ParkedKey, dryRun = false }) };
        forged.Headers.Add(header, attackerToken);
        HttpResponseMessage foreignToken = await victim.SendAsync(forged);

        Assert.Equal(HttpStatusCode.BadRequest, noToken.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, foreignToken.StatusCode);
        Assert.Contains("antiforgery", await foreignToken.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.True(host.Consumer("orders").ParkedKeys.ContainsKey(ParkedKey), "a refused action must not release the key");

        // The same request with the victim's own token goes through: the refusal was the token, nothing else.
        (_, string victimToken) = await TokenOfAsync(victim);
        using var genuine = new HttpRequestMessage(HttpMethod.Post, "streamlanes/api/consumers/orders/release") { Content = JsonContent.Create(new { key = ParkedKey, dryRun = false }) };
        genuine.Headers.Add(header, victimToken);
        HttpResponseMessage accepted = await victim.SendAsync(genuine);
        Assert.Equal(HttpStatusCode.OK, accepted.StatusCode);
        Assert.False(host.Consumer("orders").ParkedKeys.ContainsKey(ParkedKey));
    }

    [Fact]
    public async Task Payloads_are_hidden_unless_the_host_enables_them()
    {
        await using DashboardTestHost hidden = await ParkAKeyAsync();
        await using DashboardTestHost shown = await ParkAKeyAsync(o => o.ShowPayloads = true);

        JsonElement hiddenDetail = await FirstDetailAsync(hidden);
        JsonElement shownDetail = await FirstDetailAsync(shown);

        Assert.False(hiddenDetail.GetProperty("payloadShown").GetBoolean());
        Assert.Equal(JsonValueKind.Null, hiddenDetail.GetProperty("payloadText").ValueKind);
        Assert.Equal(JsonValueKind.Null, hiddenDetail.GetProperty("payloadHex").ValueKind);
        Assert.DoesNotContain("secret-order", hiddenDetail.GetRawText(), StringComparison.Ordinal);
        Assert.True(shownDetail.GetProperty("payloadShown").GetBoolean());
        Assert.Contains("secret-order", shownDetail.GetProperty("payloadText").GetString(), StringComparison.Ordinal);
        Assert.Contains("{\n  \"orderId\": ", shownDetail.GetProperty("payloadJson").GetString(), StringComparison.Ordinal);
        Assert.StartsWith("00000000  7b 22", shownDetail.GetProperty("payloadHex").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Stream_supplied_strings_are_html_escaped_in_the_server_rendered_page()
    {
        const string hostile = "<script>alert('stream')</script>";
        await using DashboardTestHost host = await DashboardTestHost.StartAsync(ordersStreamName: hostile);
        using HttpClient client = host.Client("olga", "ops");

        HttpResponseMessage response = await client.GetAsync("streamlanes");
        string html = await response.Content.ReadAsStringAsync();

        Assert.DoesNotContain(hostile, html, StringComparison.Ordinal);
        Assert.Contains("&lt;script&gt;alert(&#x27;stream&#x27;)&lt;/script&gt;", html, StringComparison.Ordinal);
        Assert.Single(ScriptTag().Matches(html));
        Assert.Contains("script-src 'self'", response.Headers.GetValues("Content-Security-Policy").Single(), StringComparison.Ordinal);
        Assert.Equal("DENY", response.Headers.GetValues("X-Frame-Options").Single());
    }

    [Fact]
    public async Task A_purge_without_a_filter_needs_all_and_a_dry_run_deletes_nothing()
    {
        await using DashboardTestHost host = await ParkAKeyAsync();
        using HttpClient client = host.Client("olga", "ops");
        (string header, string token) = await TokenOfAsync(client);
        int before = host.OrdersSink.Envelopes.Count;

        HttpResponseMessage withoutAll = await PostAsync(client, header, token, "purge", new { dryRun = false });
        HttpResponseMessage dryRun = await PostAsync(client, header, token, "purge", new { key = ParkedKey, dryRun = true });
        JsonElement dry = await dryRun.Content.ReadFromJsonAsync<JsonElement>();

        Assert.Equal(HttpStatusCode.BadRequest, withoutAll.StatusCode);
        Assert.Equal(before, dry.GetProperty("total").GetInt32());
        Assert.Equal(before, host.OrdersSink.Envelopes.Count);

        HttpResponseMessage purged = await PostAsync(client, header, token, "purge", new { key = ParkedKey, dryRun = false });
        Assert.Equal(HttpStatusCode.OK, purged.StatusCode);
        Assert.Empty(host.OrdersSink.Envelopes);
    }

    [Fact]
    public async Task Nothing_logs_a_payload_and_the_dashboard_logs_no_key()
    {
        var logs = new CollectingLoggerProvider();
        await using DashboardTestHost host = await ParkAKeyAsync(o => o.ShowPayloads = true, logs);
        using HttpClient client = host.Client("olga", "ops");
        (string header, string token) = await TokenOfAsync(client);
        JsonElement detail = await FirstDetailAsync(host);
        host.Poison.Fix(ParkedKey);

        Assert.Equal(HttpStatusCode.OK, (await PostAsync(client, header, token, "replay", new { key = ParkedKey, dryRun = true })).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await PostAsync(client, header, token, "release", new { key = ParkedKey, dryRun = false })).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await PostAsync(client, header, token, "replay", new { key = ParkedKey, dryRun = false })).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await PostAsync(client, header, token, "purge", new { key = ParkedKey, dryRun = false })).StatusCode);

        Assert.Contains("secret-order", detail.GetProperty("payloadText").GetString(), StringComparison.Ordinal);
        Assert.Contains(logs.Lines, l => l.Category == "StreamLanes.Dashboard" && l.Text.Contains("replay on consumer orders: 2 dead letters (dry run: False)", StringComparison.Ordinal));
        Assert.DoesNotContain(logs.Lines, l => l.Text.Contains("secret-order", StringComparison.Ordinal));
        Assert.DoesNotContain(logs.Lines, l => l.Category == "StreamLanes.Dashboard" && l.Text.Contains(ParkedKey, StringComparison.Ordinal));
    }

    internal static async Task<DashboardTestHost> ParkAKeyAsync(Action<StreamLanesDashboardOptions>? configure = null, Microsoft.Extensions.Logging.ILoggerProvider? logs = null)
    {
        DashboardTestHost host = await DashboardTestHost.StartAsync(configure, logs: logs);
        host.Poison.Fail(ParkedKey);
        host.Orders.Put(ParkedKey, """{"orderId":1,"note":"secret-order"}""");
        host.Orders.Put(ParkedKey, """{"orderId":2,"note":"secret-order"}""");
        await DashboardTestHost.WaitUntilAsync(() => host.OrdersSink.Envelopes.Count == 2 && host.Consumer("orders").ParkedKeys.ContainsKey(ParkedKey), "the key to be parked with 2 dead letters");
        return host;
    }

    internal static async Task<(string Header, string Token)> TokenOfAsync(HttpClient client)
    {
        string html = await client.GetStringAsync("streamlanes");
        Match token = MetaTag().Match(html);
        Match header = HeaderTag().Match(html);
        Assert.True(token.Success && header.Success, "the page carries an antiforgery token and its header's name");
        return (header.Groups[1].Value, token.Groups[1].Value);
    }

    private static async Task<HttpResponseMessage> PostAsync(HttpClient client, string header, string token, string action, object body)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, $"streamlanes/api/consumers/orders/{action}") { Content = JsonContent.Create(body) };
        request.Headers.Add(header, token);
        return await client.SendAsync(request);
    }

    private static async Task<JsonElement> FirstDetailAsync(DashboardTestHost host)
    {
        using HttpClient client = host.Client("olga", "ops");
        JsonElement page = await client.GetFromJsonAsync<JsonElement>("streamlanes/api/consumers/orders/dead-letters");
        string id = page.GetProperty("items")[0].GetProperty("id").GetString()!;
        return await client.GetFromJsonAsync<JsonElement>($"streamlanes/api/consumers/orders/dead-letter?id={Uri.EscapeDataString(id)}");
    }

    [GeneratedRegex("<meta name=\"sl-csrf\" content=\"([^\"]*)\">")]
    private static partial Regex MetaTag();

    [GeneratedRegex("<meta name=\"sl-csrf-header\" content=\"([^\"]*)\">")]
    private static partial Regex HeaderTag();

    [GeneratedRegex("<script")]
    private static partial Regex ScriptTag();
}
