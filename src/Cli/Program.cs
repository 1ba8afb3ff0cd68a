using StreamLanes.Cli;

using var cancel = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    // The first Ctrl+C stops the redrive between dead letters; what was done stays done.
    e.Cancel = true;
    cancel.Cancel();
};
return await StreamLanesCli.RunAsync(args, Console.Out, Console.Error, cancel.Token).ConfigureAwait(false);
