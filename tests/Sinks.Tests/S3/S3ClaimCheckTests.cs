using System.Security.Cryptography;
using System.Text.Json;
using Amazon.S3;
using Amazon.S3.Model;
using StreamLanes.Aws;
using StreamLanes.Sinks.Tests.Envelope;
using StreamLanes.Sinks.Tests.Support;
using StreamLanes.TestInfrastructure;

namespace StreamLanes.Sinks.Tests.Aws;

/// <summary>A claim-check pointer is data from the dead-letter store: one naming a foreign S3 object is refused.</summary>
[Collection(EmulatorCollections.Sqs)]
public sealed class S3ClaimCheckTests(SqsEmulatorFixture emulator)
{
    /// <summary>
    /// Puts a genuine-looking claim-checked dead letter (an envelope whose SHA-256 is in its key) at a foreign location,
    /// so that without the pointer check a load would succeed and a purge would delete it.
    /// </summary>
    private static async Task<ClaimCheckPointer> PlantAsync(IAmazonS3 s3, string bucket, Func<string, string> keyOf)
    {
        byte[] json = DeadLetterEnvelopeSerializer.Serialize(DeadLetterEnvelopeTests.Sample("{\"secret\":true}"u8.ToArray(), "victim", "7"));
        string hash = Convert.ToHexStringLower(SHA256.HashData(json));
        string key = keyOf(hash);
        using var body = new MemoryStream(json);
        await s3.PutObjectAsync(new PutObjectRequest { BucketName = bucket, Key = key, InputStream = body });
        return new ClaimCheckPointer { Bucket = bucket, Key = key, Size = json.Length, Sha256 = hash, DeadLetterId = "orders/x/y/7/0" };
    }

    private static async Task AssertUntouchedAsync(IAmazonS3 s3, ClaimCheckPointer pointer)
    {
        using GetObjectResponse response = await s3.GetObjectAsync(pointer.Bucket, pointer.Key);
        using var copy = new MemoryStream();
        await response.ResponseStream.CopyToAsync(copy);
        Assert.Equal(pointer.Sha256, Convert.ToHexStringLower(SHA256.HashData(copy.ToArray())));
    }

    public static TheoryData<string> ForeignLocations => new()
    {
        "other-bucket",
        "prefix-lookalike",
        "dot-dot-consumer",
        "dot-dot-inside",
        "outside-prefix",
        "hash-mismatch",
    };

    [Theory]
    [MemberData(nameof(ForeignLocations))]
    public async Task A_pointer_outside_the_configured_bucket_and_prefix_is_neither_read_nor_deleted(string location)
    {
        using AmazonS3Client s3 = AwsTestClients.S3(emulator);
        S3ClaimCheck claimCheck = await AwsTestClients.ClaimCheckAsync(s3); // prefix streamlanes/dead-letters/
        string other = EmulatorFixture.UniqueName("victim").ToLowerInvariant();
        await s3.PutBucketAsync(other);
        ClaimCheckPointer pointer = location switch
        {
            "other-bucket" => await PlantAsync(s3, other, hash => $"streamlanes/dead-letters/orders/{hash}.json"),
            "prefix-lookalike" => await PlantAsync(s3, claimCheck.BucketName, hash => $"streamlanes/dead-letters-evil/orders/{hash}.json"),
            "dot-dot-consumer" => await PlantAsync(s3, claimCheck.BucketName, hash => $"streamlanes/dead-letters/../{hash}.json"),
            "dot-dot-inside" => await PlantAsync(s3, claimCheck.BucketName, hash => $"streamlanes/dead-letters/orders/../../billing/{hash}.json"),
            "outside-prefix" => await PlantAsync(s3, claimCheck.BucketName, hash => $"billing/orders/{hash}.json"),
            // The key's hash is not the pointer's: whatever is at that key was not written for this dead letter.
            "hash-mismatch" => await PlantAsync(s3, claimCheck.BucketName, hash => $"streamlanes/dead-letters/orders/{new string('0', 64)}.json"),
            _ => throw new ArgumentOutOfRangeException(nameof(location)),
        };
        InvalidDataException load = await Assert.ThrowsAsync<InvalidDataException>(() => claimCheck.LoadAsync(pointer, default));
        Assert.Contains("Refused the claim-check pointer", load.Message, StringComparison.Ordinal);
        Assert.Contains("Nothing was read or deleted", load.Message, StringComparison.Ordinal);
        Assert.Contains(claimCheck.BucketName, load.Message, StringComparison.Ordinal);

        await Assert.ThrowsAsync<InvalidDataException>(() => claimCheck.DeleteAsync(pointer, default));
        await AssertUntouchedAsync(s3, pointer);
    }

    [Fact]
    public async Task A_pointer_to_another_consumers_object_under_the_prefix_is_refused_on_load()
    {
        using AmazonS3Client s3 = AwsTestClients.S3(emulator);
        S3ClaimCheck claimCheck = await AwsTestClients.ClaimCheckAsync(s3);

        // The object holds a dead letter of consumer "orders", the key says "payments".
        ClaimCheckPointer pointer = await PlantAsync(s3, claimCheck.BucketName, hash => $"streamlanes/dead-letters/payments/{hash}.json");
        InvalidDataException error = await Assert.ThrowsAsync<InvalidDataException>(() => claimCheck.LoadAsync(pointer, default));
        Assert.Contains("consumer 'orders'", error.Message, StringComparison.Ordinal);
        await AssertUntouchedAsync(s3, pointer);
    }

    [Fact]
    public async Task Its_own_pointer_still_loads_and_deletes()
    {
        using AmazonS3Client s3 = AwsTestClients.S3(emulator);
        S3ClaimCheck claimCheck = await AwsTestClients.ClaimCheckAsync(s3);
        DeadLetterEnvelope envelope = DeadLetterEnvelopeTests.Sample(new byte[1000], "k", "9");
        ClaimCheckPointer pointer = await claimCheck.StoreAsync(envelope, DeadLetterEnvelopeSerializer.Serialize(envelope), default);
        Assert.Equal(envelope.Id, (await claimCheck.LoadAsync(pointer, default)).Id);
        await claimCheck.DeleteAsync(pointer, default);
        await Assert.ThrowsAnyAsync<AmazonS3Exception>(() => s3.GetObjectAsync(pointer.Bucket, pointer.Key));
    }

    [Fact]
    public async Task A_purge_of_an_SQS_dead_letter_queue_holding_a_foreign_pointer_refuses_it_and_leaves_the_object()
    {
        using SqsClient sqs = AwsTestClients.Sqs(emulator);
        using AmazonS3Client s3 = AwsTestClients.S3(emulator);
        S3ClaimCheck claimCheck = await AwsTestClients.ClaimCheckAsync(s3);
        string other = EmulatorFixture.UniqueName("victim").ToLowerInvariant();
        await s3.PutBucketAsync(other);
        ClaimCheckPointer foreign = await PlantAsync(s3, other, hash => $"streamlanes/dead-letters/orders/{hash}.json");
        string queue = await AwsTestClients.QueueAsync(sqs, fifo: false);

        // Whoever can send to the dead-letter queue writes a pointer message, as the SQS sink would.
        await sqs.SendMessageAsync(new SqsSendMessageRequest
        {
            QueueUrl = queue,
            MessageBody = foreign.ToJson(),
            MessageAttributes = new Dictionary<string, SqsMessageAttributeValue>
            {
                [SqsDeadLetterSink.ClaimCheckAttribute] = new() { DataType = "String", StringValue = "s3" },
            },
        });

        await using var sink = new SqsDeadLetterSink(sqs, new SqsDeadLetterSinkOptions { QueueUrl = queue }, claimCheck);
        var redriver = new DeadLetterRedriver(sink);
        Exception error = await Assert.ThrowsAnyAsync<Exception>(() => redriver.PurgeAsync(new DeadLetterRedriveOptions { Filter = new DeadLetterFilter { Consumer = "orders" } }));
        Assert.Contains("Refused the claim-check pointer", error.ToString(), StringComparison.Ordinal);
        await AssertUntouchedAsync(s3, foreign);
    }
}
