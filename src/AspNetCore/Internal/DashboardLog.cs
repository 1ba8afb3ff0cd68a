using Microsoft.Extensions.Logging;

namespace StreamLanes.AspNetCore;

/// <summary>The dashboard's logs: what an operator did, by consumer and counts; never a key's value or a payload.</summary>
internal static partial class DashboardLog
{
    [LoggerMessage(1, LogLevel.Information, "Dashboard {Operation} on consumer {Consumer}: {Count} dead letters (dry run: {DryRun}).")]
    public static partial void Redriven(ILogger logger, string operation, string consumer, int count, bool dryRun);

    [LoggerMessage(2, LogLevel.Information, "Dashboard released a parked key of consumer {Consumer}.")]
    public static partial void KeyReleased(ILogger logger, string consumer);
}
