namespace StreamLanes.IntegrationTests.Support;

/// <summary>Waits for a condition the system under test reaches on its own time, failing with what it saw.</summary>
public static class Eventually
{
    public static async Task WaitUntilAsync(Func<bool> condition, TimeSpan timeout, Func<string>? describe = null)
    {
        using var cts = new CancellationTokenSource(timeout);
        while (!condition())
        {
            try
            {
                await Task.Delay(50, cts.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"Condition not reached within {timeout}. {describe?.Invoke()}");
            }
        }
    }

    /// <summary>The same for a condition that must ask a service (e.g. read a table).</summary>
    public static async Task WaitUntilAsync(Func<Task<bool>> condition, TimeSpan timeout, Func<string>? describe = null)
    {
        using var cts = new CancellationTokenSource(timeout);
        while (!await condition())
        {
            try
            {
                await Task.Delay(50, cts.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"Condition not reached within {timeout}. {describe?.Invoke()}");
            }
        }
    }
}
