using System.ComponentModel.DataAnnotations;
using Amazon.Runtime;

namespace StreamLanes.Aws;

/// <summary>
/// Settings shared by <see cref="KinesisClient"/>, <see cref="DynamoDbStreamsClient"/> and <see cref="SqsClient"/>:
/// region, endpoints, credentials, transport retries and timeouts.
/// </summary>
public sealed class AwsClientOptions
{
    /// <summary>
    /// The AWS region that requests are signed for and whose public endpoints are used.
    /// Defaults to the <c>AWS_REGION</c> environment variable, then <c>AWS_DEFAULT_REGION</c>, then <c>us-east-1</c>.
    /// </summary>
    [Required]
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
    /// Explicit credentials. Default: <see langword="null"/>, which resolves AWSSDK.Core's default credential chain
    /// (environment, profile, SSO, web identity, container and instance metadata) on first use.
    /// </summary>
    public AWSCredentials? Credentials { get; set; }

    /// <summary>
    /// How many times a request is retried after a throttling error, a 5xx response, a network error or a
    /// per-attempt timeout. Validation, not-found and access-denied errors are never retried. Default: 3.
    /// </summary>
    [Range(0, 20)]
    public int MaxTransportRetries { get; set; } = 3;

    /// <summary>
    /// The base of the exponential back-off between transport retries; each delay is drawn uniformly from
    /// zero to <c>min(MaxRetryDelay, BaseRetryDelay * 2^retry)</c> ("full jitter"). Default: 100 ms.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:10:00")]
    public TimeSpan BaseRetryDelay { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>The cap on a single back-off delay between transport retries. Default: 5 seconds.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:10:00")]
    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// The timeout of a single attempt. A long-polling SQS ReceiveMessage gets its wait time on top of it.
    /// Default: 30 seconds.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.001", "01:00:00")]
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Checks the options and throws an <see cref="ArgumentException"/> that lists every problem.</summary>
    /// <exception cref="ArgumentException">One or more settings are invalid.</exception>
    public void Validate()
    {
        var results = new List<ValidationResult>();
        Validator.TryValidateObject(this, new ValidationContext(this), results, validateAllProperties: true);
        var problems = results.Select(r => r.ErrorMessage ?? "invalid value").ToList();
        if (BaseRetryDelay > MaxRetryDelay)
        {
            problems.Add($"{nameof(BaseRetryDelay)} ({BaseRetryDelay}) must not exceed {nameof(MaxRetryDelay)} ({MaxRetryDelay}).");
        }

        CheckUrl(ServiceUrl, nameof(ServiceUrl), problems);
        CheckUrl(KinesisServiceUrl, nameof(KinesisServiceUrl), problems);
        CheckUrl(DynamoDbStreamsServiceUrl, nameof(DynamoDbStreamsServiceUrl), problems);
        CheckUrl(SqsServiceUrl, nameof(SqsServiceUrl), problems);
        if (problems.Count > 0)
        {
            throw new ArgumentException("Invalid AwsClientOptions: " + string.Join(" ", problems));
        }
    }

    internal AwsClientOptions Clone() => (AwsClientOptions)MemberwiseClone();

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
