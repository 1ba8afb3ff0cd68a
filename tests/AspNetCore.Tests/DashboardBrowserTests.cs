using OpenQA.Selenium;

namespace StreamLanes.AspNetCore.Tests;

/// <summary>The dashboard in a real browser (headless Chromium) against a host running real consumers with poison keys.</summary>
public sealed class DashboardBrowserTests(BrowserFixture browser) : IClassFixture<BrowserFixture>
{
    // A partition key is stream data: this one would run script if the page ever put it into HTML unescaped.
    private const string HostileKey = "<img src=x onerror=\"document.title='pwned'\">&amp;\"'";
    private const string ReleaseKey = "customer-release";
    private const string RetryingKey = "card-7";

    [Fact]
    public async Task An_operator_sees_the_blocked_key_reads_its_dead_letter_replays_it_after_the_fix_and_releases_a_key()
    {
        await using DashboardTestHost host = await DashboardTestHost.StartAsync(o =>
        {
            o.ShowPayloads = true;
            o.RefreshInterval = TimeSpan.FromMilliseconds(500);
        });
        host.Poison.Fail(HostileKey);
        host.Poison.Fail(ReleaseKey);
        host.Poison.Fail(RetryingKey);
        for (int i = 1; i <= 20; i++)
        {
            host.Orders.Put($"customer-{i}", $$"""{"orderId":{{i}}}""");
        }

        string first101 = host.Orders.Put(HostileKey, """{"orderId":101,"item":"poison-payload-101"}""").SequenceNumber;
        string second102 = host.Orders.Put(HostileKey, """{"orderId":102,"item":"poison-payload-102"}""").SequenceNumber;
        host.Orders.Put(ReleaseKey, """{"orderId":201}""");
        host.Payments.Put(RetryingKey, """{"paymentId":7}""");
        await DashboardTestHost.WaitUntilAsync(
            () => host.OrdersSink.Envelopes.Count == 3 && host.Consumer("orders").ParkedKeys.Count == 2,
            "3 dead letters and 2 parked keys on 'orders'");
        IWebDriver driver = browser.Driver;
        driver.Navigate().GoToUrl($"{host.BaseUrl}/test-login?user=olga&role=ops");
        driver.Navigate().GoToUrl($"{host.BaseUrl}/streamlanes");
        string title = driver.Title;

        // The retrying key of the RetryUntilSuccess consumer shows as blocked, with its attempts and latest error.
        await SelectConsumerAsync("payments");
        Assert.Contains("Downstream rejected the record of key card-7", await RowTextAsync("#blocked-keys", RetryingKey), StringComparison.Ordinal);
        await WaitForAsync(() => int.Parse(Rows("#blocked-keys", RetryingKey)[0].FindElements(By.CssSelector("td"))[3].Text, System.Globalization.CultureInfo.InvariantCulture) >= 2, "the blocked key's attempts to grow");
        ScrollTo("#consumer");
        browser.Screenshot("dashboard-blocked.png");

        // The parked hostile key and its dead letters are shown as text, exactly, and nothing of it runs.
        await SelectConsumerAsync("orders");
        await WaitForAsync(() => Rows("#parked-keys", HostileKey)[0].FindElement(By.CssSelector("td.key")).Text == HostileKey, "the parked key shown as text, exactly");
        await WaitForAsync(() => DeadLetterRows(HostileKey).Count == 2, "the hostile key's 2 dead letters in the list");
        await WaitForAsync(() => Rows("#parked-keys", HostileKey)[0].FindElements(By.CssSelector("td"))[2].Text == "3", "the parked key's attempt count (from its dead letter)");
        Assert.Contains("InvalidOperationException", await RowTextAsync("#parked-keys", HostileKey), StringComparison.Ordinal);
        ScrollTo("header");
        browser.Screenshot("dashboard-overview.png");

        // The detail view shows the first dead letter's payload (text, then JSON) and every attempt's error.
        await WaitForAsync(() =>
        {
            DeadLetterRows(HostileKey).Single(r => r.Text.Contains("RetriesExhausted", StringComparison.Ordinal)).Click();
            return true;
        }, "a click on the key's first dead letter");
        IWebElement payload = await ElementAsync("#payload-text");
        Assert.Contains("poison-payload-101", payload.Text, StringComparison.Ordinal);
        Assert.Equal(3, driver.FindElements(By.CssSelector("#attempts > li")).Count);
        await ClickAsync("#tab-json");
        Assert.Contains("\"orderId\": 101", (await ElementAsync("#payload-json")).Text, StringComparison.Ordinal);
        ScrollTo("#detail");
        browser.Screenshot("dashboard-dead-letter.png");
        Assert.Equal(title, driver.Title);
        Assert.Equal(0L, ((IJavaScriptExecutor)driver).ExecuteScript("return document.querySelectorAll('img').length;"));

        // The fix, then a replay of the key: the confirmation shows the dry run's counts, the result the outcome.
        host.Poison.Fix(HostileKey);
        await ClickInRowAsync("#parked-keys", HostileKey, "button.replay-key");
        IWebElement dryRun = await ElementAsync("#dry-run");
        Assert.Contains("2 dead letters (1 key) would be replayed", dryRun.Text, StringComparison.Ordinal);
        browser.Screenshot("dashboard-confirm.png");
        driver.FindElement(By.Id("confirm-ok")).Click();
        IWebElement result = await ElementAsync("#confirm[data-result] .result");
        Assert.Contains("Replayed: 2", result.Text, StringComparison.Ordinal);
        driver.FindElement(By.Id("confirm-cancel")).Click();
        await WaitForAsync(() => DeadLetterRows(HostileKey).Count == 0 && Rows("#parked-keys", HostileKey).Count == 0, "the replayed key to leave the dead letters and the parked keys");
        Assert.DoesNotContain(host.OrdersSink.Envelopes, e => e.PartitionKey == HostileKey);
        Assert.False(host.Consumer("orders").ParkedKeys.ContainsKey(HostileKey));
        Assert.Equal([$"{HostileKey}:{first101}", $"{HostileKey}:{second102}"], host.Poison.Handled.Where(h => h.StartsWith(HostileKey + ":", StringComparison.Ordinal)));

        // Release un-parks the other key; its dead letter stays, as the confirmation said.
        await ClickInRowAsync("#parked-keys", ReleaseKey, "button.release-key");
        Assert.Contains("1 dead letter of this key stay", (await ElementAsync("#dry-run")).Text, StringComparison.Ordinal);
        driver.FindElement(By.Id("confirm-ok")).Click();
        Assert.Equal("Released.", (await ElementAsync("#confirm[data-result] .result")).Text);
        driver.FindElement(By.Id("confirm-cancel")).Click();
        await WaitForAsync(() => Rows("#parked-keys", ReleaseKey).Count == 0, "the released key to leave the parked keys");
        Assert.False(host.Consumer("orders").ParkedKeys.ContainsKey(ReleaseKey));
    }

    private void ScrollTo(string css)
        => ((IJavaScriptExecutor)browser.Driver).ExecuteScript("document.querySelector(arguments[0]).scrollIntoView(true);", css);

    private List<IWebElement> Rows(string table, string key)
        => [.. browser.Driver.FindElements(By.CssSelector($"{table} tbody tr[data-key]")).Where(r => Attribute(r, "data-key") == key)];

    private List<IWebElement> DeadLetterRows(string key) => Rows("#dead-letters", key);

    private static string? Attribute(IWebElement element, string name)
    {
        try
        {
            return element.GetAttribute(name);
        }
        catch (StaleElementReferenceException)
        {
            return null;
        }
    }

    private async Task<string> RowTextAsync(string table, string key)
    {
        string? text = null;
        await WaitForAsync(() => (text = Rows(table, key).FirstOrDefault()?.Text) is not null, $"a row for the key in {table}");
        return text!;
    }

    private async Task ClickInRowAsync(string table, string key, string button)
        => await WaitForAsync(() =>
        {
            Rows(table, key)[0].FindElement(By.CssSelector(button)).Click();
            return true;
        }, $"a click on {button} in {table}");

    private async Task<IWebElement> ElementAsync(string css)
    {
        IWebElement? found = null;
        await WaitForAsync(() => (found = browser.Driver.FindElements(By.CssSelector(css)).FirstOrDefault(e => e.Displayed)) is not null, css);
        return found!;
    }

    // The server-rendered rows are replaced by live ones at the script's first refresh: click until the choice sticks.
    private async Task SelectConsumerAsync(string name)
        => await WaitForAsync(() =>
        {
            IWebElement row = browser.Driver.FindElement(By.CssSelector($"#consumers tr[data-consumer='{name}']"));
            if (row.GetAttribute("class") == "selected" && browser.Driver.FindElements(By.Id($"consumer-{name}")).Count == 1)
            {
                return true;
            }

            row.Click();
            return false;
        }, $"consumer {name} to be selected");

    private async Task ClickAsync(string css)
        => await WaitForAsync(() =>
        {
            browser.Driver.FindElement(By.CssSelector(css)).Click();
            return true;
        }, $"a click on {css}");

    /// <summary>Polls a condition against the live page; elements re-rendered by a refresh are simply looked up again.</summary>
    private static async Task WaitForAsync(Func<bool> condition, string what)
    {
        var bound = TimeSpan.FromSeconds(20);
        using var timeout = new CancellationTokenSource(bound);
        while (true)
        {
            try
            {
                if (condition())
                {
                    return;
                }
            }
            catch (Exception ex) when (ex is StaleElementReferenceException or NoSuchElementException or ElementClickInterceptedException or ArgumentOutOfRangeException or FormatException or InvalidOperationException)
            {
            }

            if (timeout.IsCancellationRequested)
            {
                Assert.Fail($"Timed out after {bound.TotalSeconds:N0} s waiting for {what}.");
            }

            await Task.Delay(50);
        }
    }
}
