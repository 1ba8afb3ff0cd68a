using Amazon;
using Amazon.S3;
using Microsoft.Extensions.DependencyInjection;
using StreamLanes.Aws;

namespace StreamLanes.S3;

/// <summary>Gives a consumer's SQS or DynamoDB dead-letter sink (and its SQS source, for redriven messages) an S3 claim check.</summary>
public static class S3ClaimCheckBuilderExtensions
{
    /// <summary>The configuration section under <c>StreamConsumers:&lt;name&gt;</c>.</summary>
    internal const string Section = "S3ClaimCheck";

    /// <summary>
    /// Stores dead letters too large for the consumer's SQS or DynamoDB dead-letter sink in S3, the sink keeping a
    /// pointer; the consumer's SQS source (when it has no <c>ClaimCheck</c> of its own) loads redriven ones from there.
    /// Options are bound from <c>StreamConsumers:&lt;name&gt;:S3ClaimCheck</c> (e.g. <c>BucketName</c>, <c>KeyPrefix</c>,
    /// <c>Aws:Region</c>, <c>Aws:ServiceUrl</c>), then <paramref name="configure"/>; invalid options fail start-up naming
    /// each option and its rule. The S3 client is the <see cref="IAmazonS3"/> registered in DI when there is one (never
    /// disposed by StreamLanes), else one built from the registered <c>AWSOptions</c>, else from <c>Aws</c>; one built here
    /// is created once per consumer and disposed with the host.
    /// </summary>
    /// <param name="builder">The consumer.</param>
    /// <param name="bucketName">The bucket; it must exist. Taken from configuration when <see langword="null"/>.</param>
    /// <param name="configure">Sets the claim check's options in code (code wins).</param>
    /// <returns>The builder.</returns>
    public static StreamConsumerBuilder UseS3ClaimCheck(this StreamConsumerBuilder builder, string? bucketName = null, Action<S3ClaimCheckOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        string consumer = builder.Name;
        SourceSetup.AddOptions<S3ClaimCheckOptions>(
            builder,
            Section,
            defaults => defaults.BucketName = bucketName ?? defaults.BucketName,
            configure,
            static (o, prefix) => o.Validate(prefix));
        builder.Services.AddKeyedSingleton(consumer, (services, _) =>
        {
            S3ClaimCheckOptions options = SourceSetup.Options<S3ClaimCheckOptions>(services, consumer);
            var (client, owned) = AwsServiceClients.Resolve<IAmazonS3>(services, () => CreateClient(options.Aws));
            return new ConsumerClaimCheck(owned ? client : null, new S3ClaimCheck(client, options));
        });
        return builder;
    }

    /// <summary>The claim check <see cref="UseS3ClaimCheck"/> registered for <paramref name="consumer"/>, if any.</summary>
    internal static S3ClaimCheck? For(IServiceProvider services, string consumer)
        => services.GetKeyedService<ConsumerClaimCheck>(consumer)?.ClaimCheck;

    private static AmazonS3Client CreateClient(AwsClientOptions aws)
    {
        var config = new AmazonS3Config();
        if (aws.ServiceUrl is { } serviceUrl)
        {
            // S3-compatible endpoints (emulators, gateways) rarely serve virtual-hosted bucket names.
            config.ServiceURL = serviceUrl.ToString();
            config.AuthenticationRegion = aws.Region;
            config.ForcePathStyle = true;
        }
        else
        {
            config.RegionEndpoint = RegionEndpoint.GetBySystemName(aws.Region);
        }

        return aws.ResolveCredentials() is { } credentials ? new AmazonS3Client(credentials, config) : new AmazonS3Client(config);
    }

    /// <summary>A consumer's claim check and the S3 client it owns, if any (never the user's from DI); the container disposes it.</summary>
    internal sealed class ConsumerClaimCheck(IAmazonS3? ownedClient, S3ClaimCheck claimCheck) : IDisposable
    {
        public S3ClaimCheck ClaimCheck => claimCheck;

        public void Dispose() => ownedClient?.Dispose();
    }
}
