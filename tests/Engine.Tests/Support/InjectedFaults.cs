namespace StreamLanes.Engine.Tests.Support;

/// <summary>Handler behaviours that mix synchronous completions with the waits and failures a lane must survive.</summary>
public static class InjectedFaults
{
    /// <summary>
    /// Completes synchronously, except once in <paramref name="outOf"/> calls a yield (the lane resumes on its own
    /// continuation) and once in <paramref name="outOf"/> a failed first attempt (a retry back-off). Seeded: one
    /// <paramref name="random"/> per test, shared by its handler calls.
    /// </summary>
    public static async ValueTask MostlySynchronousAsync(Random random, int outOf, int attempt)
    {
        int roll;
        lock (random)
        {
            roll = random.Next(outOf);
        }

        if (roll == 0)
        {
            await Task.Yield();
        }
        else if (roll == 1 && attempt == 1)
        {
            throw new InvalidOperationException("injected failure");
        }
    }
}
