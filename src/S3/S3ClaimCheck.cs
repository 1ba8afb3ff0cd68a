using System.Net;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;
using Amazon.S3;
using Amazon.S3.Model;
using StreamLanes.Aws;
using StreamLanes.Sinks;

namespace StreamLanes.S3;

/// <summary>Where an <see cref="S3ClaimCheck"/> stores dead letters too large for their sink.</summary>
public sealed class S3ClaimCheckOptions
{
    /// <summary>The S3 bucket; it must exist. Required.</summary>
    public string BucketName { get; set; } = string.Empty;

    /// <summary>The prefix of the object keys; each object is <c>&lt;prefix&gt;&lt;consumer&gt;/&lt;sha-256&gt;.json</c>. Default: <c>streamlanes/dead-letters/</c>.</summary>
    public string KeyPrefix { get; set; } = "streamlanes/dead-letters/";

    /// <summary>
    /// Region, endpoint (<see cref="AwsClientOptions.ServiceUrl"/>) and credentials of the S3 client that
    /// <c>UseS3ClaimCheck</c> creates; a claim check given its own client ignores them. Default: <see cref="AwsClientOptions"/>' defaults.
    /// </summary>
    public AwsClientOptions Aws { get; set; } = new();

    /// <summary>Checks the options and throws an <see cref="ArgumentException"/> naming each invalid option and its rule.</summary>
    /// <exception cref="ArgumentException">An option is invalid.</exception>
    public void Validate()
    {
        IReadOnlyList<string> failures = Validate(nameof(S3ClaimCheckOptions) + ".");
        if (failures.Count > 0)
        {
            throw new ArgumentException(string.Join(" ", failures));
        }
    }

    /// <summary>
    /// The options' rules, as one failure per invalid option named under <paramref name="prefix"/>: the consumer's
    /// start-up validation passes the configuration path (<c>StreamConsumers:orders:S3ClaimCheck:</c>), <see cref="Validate()"/>
    /// the type's name.
    /// </summary>
    internal IReadOnlyList<string> Validate(string prefix)
    {
        var failures = new List<string>();
        if (string.IsNullOrWhiteSpace(BucketName))
        {
            failures.Add($"{prefix}{nameof(BucketName)} is required.");
        }

        if (KeyPrefix is null || KeyPrefix.Length > 512)
        {
            failures.Add($"{prefix}{nameof(KeyPrefix)} must be set (it may be empty) and at most 512 characters.");
        }

        failures.AddRange(Aws.Validate(prefix + nameof(Aws) + ":"));
        return failures;
    }
}

/// <summary>
/// The claim check: a dead letter too large for its sink (an SQS message, a DynamoDB item) is stored whole as an S3
/// object, and the sink keeps a pointer to it. Reading back through the sink's <see cref="IDeadLetterStore"/> loads the
/// object transparently; deleting the dead letter deletes the object.
/// </summary>
/// <remarks>
/// Objects are content-addressed (the key ends in the SHA-256 of the envelope's JSON), so a retried write overwrites
/// the same object instead of leaving a second one, and a loaded body is verified against its hash.
/// </remarks>
public sealed class S3ClaimCheck
{
    private static readonly System.Buffers.SearchValues<char> LowerHex = System.Buffers.SearchValues.Create("0123456789abcdef");

    private readonly IAmazonS3 _s3;
    private readonly S3ClaimCheckOptions _options;

    /// <summary>Creates a claim check.</summary>
    /// <param name="s3">The S3 client; owned by the caller.</param>
    /// <param name="options">The bucket and key prefix; validated and copied.</param>
    public S3ClaimCheck(IAmazonS3 s3, S3ClaimCheckOptions options)
    {
        ArgumentNullException.ThrowIfNull(s3);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _s3 = s3;
        _options = new S3ClaimCheckOptions { BucketName = options.BucketName, KeyPrefix = options.KeyPrefix };
    }

    /// <summary>The bucket.</summary>
    public string BucketName => _options.BucketName;

    /// <summary>
    /// Refuses (with an <see cref="InvalidDataException"/>, before any S3 call) a pointer naming anything but what
    /// <see cref="StoreAsync"/> writes: a pointer is data from the dead-letter store, and whoever can write there must
    /// not choose which S3 object a read loads or a purge deletes. Accepted: this bucket, and a key that is the prefix followed by exactly
    /// <c>&lt;escaped consumer&gt;/&lt;sha-256&gt;.json</c> (no further <c>/</c>, no <c>.</c> or <c>..</c> segment, the hash the
    /// pointer's own). A plain starts-with test would accept <c>prefix-evil/…</c> for a prefix without its slash, or
    /// <c>prefix/../elsewhere</c>.
    /// </summary>
    /// <returns>The key's consumer segment (escaped as stored).</returns>
    private string CheckPointer(ClaimCheckPointer pointer)
    {
        ArgumentNullException.ThrowIfNull(pointer);
        if (!string.Equals(pointer.Bucket, _options.BucketName, StringComparison.Ordinal))
        {
            throw Refused(pointer, $"it is not in this claim check's bucket '{_options.BucketName}'");
        }

        string key = pointer.Key ?? string.Empty;
        if (!key.StartsWith(_options.KeyPrefix, StringComparison.Ordinal))
        {
            throw Refused(pointer, $"its key is not under this claim check's prefix '{_options.KeyPrefix}'");
        }

        string rest = key[_options.KeyPrefix.Length..];
        int slash = rest.IndexOf('/', StringComparison.Ordinal);
        string consumer = slash < 0 ? string.Empty : rest[..slash];
        string file = slash < 0 ? rest : rest[(slash + 1)..];
        bool shaped = consumer.Length > 0
            && consumer is not "." and not ".."
            && consumer.All(static c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or '~' or '%')
            && file.Length == 64 + ".json".Length
            && file.EndsWith(".json", StringComparison.Ordinal)
            && !file.AsSpan(0, 64).ContainsAnyExcept(LowerHex)
            && string.Equals(file[..64], pointer.Sha256, StringComparison.Ordinal);
        if (!shaped)
        {
            throw Refused(pointer, "its key is not '<prefix><consumer>/<sha-256 of the dead letter>.json' as StreamLanes writes it");
        }

        return consumer;
    }

    private InvalidDataException Refused(ClaimCheckPointer pointer, string why)
        => new($"Refused the claim-check pointer of dead letter {SafeText.Escape(pointer.DeadLetterId)} to s3://{SafeText.Escape(pointer.Bucket)}/{SafeText.Escape(pointer.Key, SafeText.MessageMaxLength)}: {why}. "
            + $"Nothing was read or deleted. This claim check only reads and deletes objects it wrote, in bucket '{_options.BucketName}' under '{_options.KeyPrefix}'; "
            + "whoever wrote this pointer into the dead-letter store chose that location, so inspect the message or item before removing it by hand.");

    internal async Task<ClaimCheckPointer> StoreAsync(DeadLetterEnvelope envelope, byte[] json, CancellationToken cancellationToken)
    {
        string hash = Convert.ToHexStringLower(SHA256.HashData(json));
        string key = $"{_options.KeyPrefix}{Uri.EscapeDataString(envelope.Consumer)}/{hash}.json";
        using var body = new MemoryStream(json, writable: false);
        await _s3.PutObjectAsync(
            new PutObjectRequest
            {
                BucketName = _options.BucketName,
                Key = key,
                InputStream = body,
                ContentType = "application/json",
                AutoCloseStream = false,
            },
            cancellationToken).ConfigureAwait(false);
        return new ClaimCheckPointer { Bucket = _options.BucketName, Key = key, Size = json.Length, Sha256 = hash, DeadLetterId = envelope.Id };
    }

    internal async Task<DeadLetterEnvelope> LoadAsync(ClaimCheckPointer pointer, CancellationToken cancellationToken)
    {
        string consumer = CheckPointer(pointer);
        using GetObjectResponse response = await _s3.GetObjectAsync(pointer.Bucket, pointer.Key, cancellationToken).ConfigureAwait(false);
        using var buffer = new MemoryStream(pointer.Size > 0 && pointer.Size < int.MaxValue ? (int)pointer.Size : 0);
        await response.ResponseStream.CopyToAsync(buffer, cancellationToken).ConfigureAwait(false);
        byte[] json = buffer.ToArray();
        string hash = Convert.ToHexStringLower(SHA256.HashData(json));
        if (!string.Equals(hash, pointer.Sha256, StringComparison.Ordinal))
        {
            throw new InvalidDataException($"The claim-checked dead letter s3://{pointer.Bucket}/{pointer.Key} does not match its SHA-256 ({hash} instead of {pointer.Sha256}).");
        }

        DeadLetterEnvelope envelope = DeadLetterEnvelopeSerializer.Deserialize(json);
        if (!string.Equals(Uri.EscapeDataString(envelope.Consumer), consumer, StringComparison.Ordinal))
        {
            throw Refused(pointer, $"the object holds a dead letter of consumer '{SafeText.Escape(envelope.Consumer)}', not of the consumer its key names");
        }

        return envelope;
    }

    internal async Task DeleteAsync(ClaimCheckPointer pointer, CancellationToken cancellationToken)
    {
        CheckPointer(pointer);
        try
        {
            await _s3.DeleteObjectAsync(pointer.Bucket, pointer.Key, cancellationToken).ConfigureAwait(false);
        }
        catch (AmazonS3Exception ex) when (ex.StatusCode == HttpStatusCode.NotFound)
        {
            // Already gone (a retried delete): the goal is reached.
        }
    }
}

/// <summary>The pointer a sink keeps instead of a claim-checked envelope.</summary>
internal sealed record ClaimCheckPointer
{
    /// <summary>Marks the JSON as a pointer, not an envelope, and versions its format.</summary>
    [JsonPropertyName("streamlanesClaimCheck")]
    public int FormatVersion { get; init; } = 1;

    public required string Bucket { get; init; }

    public required string Key { get; init; }

    public required long Size { get; init; }

    public required string Sha256 { get; init; }

    public required string DeadLetterId { get; init; }

    public string ToJson() => JsonSerializer.Serialize(this, ClaimCheckJsonContext.Default.ClaimCheckPointer);

    public static ClaimCheckPointer FromJson(string json)
        => JsonSerializer.Deserialize(json, ClaimCheckJsonContext.Default.ClaimCheckPointer)
            ?? throw new JsonException("A claim-check pointer cannot be null.");
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(ClaimCheckPointer))]
internal sealed partial class ClaimCheckJsonContext : JsonSerializerContext;
