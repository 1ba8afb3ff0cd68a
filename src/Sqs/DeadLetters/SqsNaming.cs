using System.Security.Cryptography;
using System.Text;
using StreamLanes.Sinks;

namespace StreamLanes.Sqs;

/// <summary>FIFO message groups and deduplication ids for dead letters and re-published records.</summary>
internal static class SqsNaming
{
    public static bool IsFifo(string queueUrl) => queueUrl.EndsWith(".fifo", StringComparison.Ordinal);

    /// <summary>
    /// The message group for a partition key: the key itself when SQS accepts it (1 to 128 characters, letters, digits
    /// and punctuation), otherwise a stable hash of it, so one key still maps to one group and keeps its order.
    /// </summary>
    public static string MessageGroupFor(string partitionKey)
    {
        if (partitionKey.Length is > 0 and <= 128 && partitionKey.All(static c => c is > ' ' and <= '~'))
        {
            return partitionKey;
        }

        return "sha256-" + Hash(partitionKey);
    }

    /// <summary>
    /// The deduplication id of a dead letter: its identity (consumer, stream, shard, sequence, sub-sequence) and its
    /// number of attempts, so a retried write is dropped by SQS while a rewrite after another failed replay is not.
    /// </summary>
    public static string DeduplicationIdFor(DeadLetterEnvelope envelope)
        => Hash(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{envelope.Id}#{envelope.Attempts.Count}"));

    public static string Hash(string value) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(value)));
}
