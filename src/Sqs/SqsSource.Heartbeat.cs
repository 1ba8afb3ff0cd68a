using StreamLanes.Aws;

namespace StreamLanes.Sqs;

/// <summary>The heartbeat: keeps messages hidden from other consumers while they are handled or retried here.</summary>
internal sealed partial class SqsSource
{
    private async Task HeartbeatLoopAsync(CancellationToken token)
    {
        using var timer = new PeriodicTimer(_options.EffectiveHeartbeatInterval, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(token).ConfigureAwait(false))
            {
                await ExtendVisibilityAsync(token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
        }
    }

    /// <summary>Renews the visibility of in-flight messages that would become visible before the next beat or two.</summary>
    internal async Task ExtendVisibilityAsync(CancellationToken token)
    {
        long now = _time.GetTimestamp();
        long renewBefore = now + (2 * ToTimestampTicks(_options.EffectiveHeartbeatInterval)) + ToTimestampTicks(TimeSpan.FromSeconds(1));
        long maxHold = ToTimestampTicks(_options.MaxVisibilityHold);
        var due = new List<(InFlightMessage Message, int Seconds)>();
        foreach (InFlightMessage message in _inFlight.Values)
        {
            if (Volatile.Read(ref message.VisibleUntil) > renewBefore || message.HoldExhausted)
            {
                continue;
            }

            // SQS counts a message's hidden time from its receipt; past MaxVisibilityHold it is let go.
            long remaining = message.ReceivedAt + maxHold - now;
            int seconds = (int)Math.Min(_options.VisibilityTimeout.TotalSeconds, remaining / (double)ToTimestampTicks(TimeSpan.FromSeconds(1)));
            if (seconds <= 0)
            {
                message.HoldExhausted = true;
                SqsLog.HoldExhausted(_logger, _options.QueueName, message.MessageId, _options.MaxVisibilityHold);
                continue;
            }

            due.Add((message, seconds));
        }

        foreach ((InFlightMessage Message, int Seconds)[] chunk in due.Chunk(BatchLimit))
        {
            try
            {
                SqsBatchResponse response = await _sqs.ChangeMessageVisibilityBatchAsync(
                    _queueUrl,
                    [.. chunk.Select((item, i) => new SqsChangeMessageVisibilityBatchEntry { Id = i.ToString(System.Globalization.CultureInfo.InvariantCulture), ReceiptHandle = item.Message.ReceiptHandle, VisibilityTimeout = item.Seconds })],
                    token).ConfigureAwait(false);
                var failed = response.Failed.Select(entry => entry.Id).ToHashSet(StringComparer.Ordinal);
                for (int i = 0; i < chunk.Length; i++)
                {
                    if (!failed.Contains(i.ToString(System.Globalization.CultureInfo.InvariantCulture)))
                    {
                        Volatile.Write(ref chunk[i].Message.VisibleUntil, now + ToTimestampTicks(TimeSpan.FromSeconds(chunk[i].Seconds)));
                    }
                }

                // A failed entry is usually a message deleted meanwhile; otherwise it is renewed at the next beat.
            }
            catch (Exception ex) when (!token.IsCancellationRequested)
            {
                SqsLog.HeartbeatFailed(_logger, ex, _options.QueueName, chunk.Length);
            }
        }
    }
}
