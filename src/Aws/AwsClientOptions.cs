using Amazon.Runtime;
using Amazon.Runtime.CredentialManagement;

namespace StreamLanes.Aws;

/// <summary>
/// Settings shared by the Kinesis, DynamoDB Streams and SQS clients of the StreamLanes AWS packages:
/// region, endpoints, credentials, transport retries and timeouts.
/// </summary>
[RenamedOption("BaseRetryDelay", "TransportRetry:InitialDelay")]
[RenamedOption("MaxRetryDelay", "TransportRetry:MaxDelay")]
public sealed class AwsClientOptions
{
    /// <summary>
    /// The AWS region that requests are signed for and whose public endpoints are used.
    /// Defaults to the <c>AWS_REGION</c> environment variable, then <c>AWS_DEFAULT_REGION</c>, then <c>us-east-1</c>.
    /// </summary>
    public string Region { get; set; } = DefaultRegion();

    /// <summary>
    /// An endpoint used for every service that has no endpoint of its own below, e.g. a single emulator
    /// such as LocalStack. Default: <see langword="null"/> (the public AWS endpoints of <see cref="Region"/>).
    /// </summary>
    public Uri? ServiceUrl { get; set; }

    /// <summary>Endpoint override for Kinesis, e.g. <c>http://127.0.0.1:4568</c>. Default: <see langword="null"/>.</summary>
    public Uri? KinesisServiceUrl { get; set; }

    /// <summary>Endpoint override for DynamoDB Streams, e.g. <c>http://127.0.0.1:8000</c>. Default: <see langword="null"/>.</summary>
    public Uri? DynamoDbStreamsServiceUrl { get; set; }

    /// <summary>
    /// Endpoint override for SQS, e.g. <c>http://127.0.0.1:4566</c>. Default: <see langword="null"/>.
    /// Requests always go to this endpoint, whatever host the queue URL names; the queue URL travels in the body.
    /// </summary>
    public Uri? SqsServiceUrl { get; set; }

    /// <summary>
    /// Explicit credentials, set in code (never bound from configuration: secrets do not belong there). Default:
    /// <see langword="null"/>, which uses <see cref="Profile"/> when set, else AWSSDK.Core's default credential chain
    /// (environment, <c>AWS_PROFILE</c>, SSO, web identity, container and instance metadata) on first use.
    /// </summary>
    public AWSCredentials? Credentials { get; set; }

    /// <summary>
    /// The name of a profile in the shared AWS config and credentials files, as <c>AWSOptions.Profile</c> and the AWS CLI's
    /// <c>--profile</c> take it (static keys, SSO, assume-role and credential-process profiles). Checked at start-up: a
    /// profile that is not found fails it, naming this option. Default: <see langword="null"/> (the default chain).
    /// </summary>
    public string? Profile { get; set; }

    /// <summary>
    /// The shared credentials file that holds <see cref="Profile"/>, as <c>AWSOptions.ProfilesLocation</c>. Default:
    /// <see langword="null"/>, the SDK's locations (<c>~/.aws/credentials</c> and <c>~/.aws/config</c>, or
    /// <c>AWS_SHARED_CREDENTIALS_FILE</c> and <c>AWS_CONFIG_FILE</c>).
    /// </summary>
    public string? ProfilesLocation { get; set; }

    /// <summary>
    /// How many times a request is retried after a throttling error, a 5xx response, a network error or a
    /// per-attempt timeout. Validation, not-found and access-denied errors are never retried. For SQS it is the SDK
    /// client's <c>MaxErrorRetry</c> (standard retry mode). Default: 3.
    /// </summary>
    public int MaxTransportRetries { get; set; } = 3;

    /// <summary>
    /// The waits between transport retries (keys <c>Aws:TransportRetry:InitialDelay</c> and
    /// <c>Aws:TransportRetry:MaxDelay</c>, formerly <c>Aws:BaseRetryDelay</c> and <c>Aws:MaxRetryDelay</c>): the first
    /// about <see cref="BackoffOptions.InitialDelay"/> (default 100 ms; 0 to 10 minutes), each next one doubling up to
    /// <see cref="BackoffOptions.MaxDelay"/> (default 5 s; at most 10 minutes), each drawn from the upper half of its
    /// delay. Not used by SQS, whose SDK client applies its own standard back-off.
    /// </summary>
    public BackoffOptions TransportRetry { get; set; } = BackoffOptions.Of(TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(5));

    /// <summary>
    /// The timeout of a single attempt. An SQS client StreamLanes builds gets 20 s on top of it (the longest long poll).
    /// Default: 30 seconds.
    /// </summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Checks the options and throws an <see cref="ArgumentException"/> naming each invalid option and its rule.</summary>
    /// <exception cref="ArgumentException">One or more settings are invalid.</exception>
    public void Validate()
    {
        IReadOnlyList<string> failures = Validate(nameof(AwsClientOptions) + ".");
        if (failures.Count > 0)
        {
            throw new ArgumentException(string.Join(" ", failures));
        }
    }

    /// <summary>
    /// The options' rules, as one failure per invalid option named under <paramref name="prefix"/>: a consumer's
    /// start-up validation passes the configuration path (<c>StreamConsumers:orders:Kinesis:Aws:</c>),
    /// <see cref="Validate()"/> the type's name.
    /// </summary>
    internal IReadOnlyList<string> Validate(string prefix)
    {
        var failures = new List<string>();
        if (string.IsNullOrWhiteSpace(Region))
        {
            failures.Add($"{prefix}{nameof(Region)} must be set, e.g. us-east-1.");
        }

        if (MaxTransportRetries is < 0 or > 20)
        {
            failures.Add($"{prefix}{nameof(MaxTransportRetries)} must be between 0 and 20, not {MaxTransportRetries}.");
        }

        if (RequestTimeout < TimeSpan.FromMilliseconds(1) || RequestTimeout > TimeSpan.FromHours(1))
        {
            failures.Add($"{prefix}{nameof(RequestTimeout)} must be between 00:00:00.001 and 01:00:00, not {RequestTimeout}.");
        }

        if (TransportRetry is null)
        {
            failures.Add($"{prefix}{nameof(TransportRetry)} must be set.");
        }
        else
        {
            TransportRetry.Validate(failures, prefix, nameof(TransportRetry), TimeSpan.Zero, TimeSpan.FromMinutes(10), TimeSpan.FromMinutes(10));
        }

        CheckUrl(ServiceUrl, prefix + nameof(ServiceUrl), failures);
        CheckUrl(KinesisServiceUrl, prefix + nameof(KinesisServiceUrl), failures);
        CheckUrl(DynamoDbStreamsServiceUrl, prefix + nameof(DynamoDbStreamsServiceUrl), failures);
        CheckUrl(SqsServiceUrl, prefix + nameof(SqsServiceUrl), failures);
        CheckProfile(failures, prefix);
        return failures;
    }

    internal AwsClientOptions Clone()
    {
        var clone = (AwsClientOptions)MemberwiseClone();
        clone.TransportRetry = BackoffOptions.Of(TransportRetry.InitialDelay, TransportRetry.MaxDelay);
        return clone;
    }

    /// <summary>
    /// The credentials requests are signed with: <see cref="Credentials"/>, else those of <see cref="Profile"/>, else
    /// <see langword="null"/> for the default chain.
    /// </summary>
    /// <exception cref="InvalidOperationException">The profile is not found.</exception>
    internal AWSCredentials? ResolveCredentials()
    {
        if (Credentials is not null || string.IsNullOrWhiteSpace(Profile))
        {
            return Credentials;
        }

        return new CredentialProfileStoreChain(ProfilesLocation).TryGetAWSCredentials(Profile, out AWSCredentials found)
            ? found
            : throw new InvalidOperationException(ProfileNotFound());
    }

    private void CheckProfile(List<string> problems, string prefix)
    {
        if (Profile is null)
        {
            return;
        }

        if (string.IsNullOrWhiteSpace(Profile))
        {
            problems.Add($"{prefix}{nameof(Profile)} must not be blank; remove it to use the default credential chain.");
        }
        else if (Credentials is not null)
        {
            problems.Add($"{prefix}{nameof(Profile)}: set either {nameof(Credentials)} (in code) or {nameof(Profile)}, not both.");
        }
        else if (!new CredentialProfileStoreChain(ProfilesLocation).TryGetProfile(Profile, out _))
        {
            problems.Add(prefix + ProfileNotFound());
        }
    }

    private string ProfileNotFound()
        => $"{nameof(Profile)} '{Profile}' was not found in {(ProfilesLocation is null ? "the shared AWS config and credentials files (~/.aws/config, ~/.aws/credentials, AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE)" : $"{nameof(ProfilesLocation)} '{ProfilesLocation}'")}.";

    private static void CheckUrl(Uri? url, string name, List<string> problems)
    {
        if (url is null)
        {
            return;
        }

        if (!url.IsAbsoluteUri || (url.Scheme != Uri.UriSchemeHttp && url.Scheme != Uri.UriSchemeHttps))
        {
            problems.Add($"{name} must be an absolute http or https URL, not '{url}'.");
        }
    }

    private static string DefaultRegion()
    {
        var region = Environment.GetEnvironmentVariable("AWS_REGION");
        if (string.IsNullOrWhiteSpace(region))
        {
            region = Environment.GetEnvironmentVariable("AWS_DEFAULT_REGION");
        }

        return string.IsNullOrWhiteSpace(region) ? "us-east-1" : region.Trim();
    }
}
