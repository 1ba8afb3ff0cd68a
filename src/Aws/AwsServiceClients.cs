using Amazon.Extensions.NETCore.Setup;
using Amazon.Runtime;
using Microsoft.Extensions.DependencyInjection;

namespace StreamLanes.Aws;

/// <summary>
/// Where a StreamLanes part gets its AWS SDK client: the user's own from DI (e.g. <c>AddAWSService&lt;IAmazonSQS&gt;()</c>),
/// never disposed by StreamLanes; else one built from the registered <see cref="AWSOptions"/>
/// (<c>AddDefaultAWSOptions</c>); else one built from the part's <see cref="AwsClientOptions"/>.
/// </summary>
internal static class AwsServiceClients
{
    /// <summary>Resolves a client of type <typeparamref name="TClient"/> as described on the type.</summary>
    /// <param name="services">The container.</param>
    /// <param name="fallback">Builds a client from the part's own options when DI has neither client nor AWSOptions.</param>
    /// <returns>The client and whether the caller owns (and so disposes) it.</returns>
    public static (TClient Client, bool Owned) Resolve<TClient>(IServiceProvider services, Func<TClient> fallback)
        where TClient : class, IAmazonService
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(fallback);
        if (services.GetService<TClient>() is { } registered)
        {
            return (registered, false);
        }

        if (services.GetService<AWSOptions>() is { } awsOptions)
        {
            return (awsOptions.CreateServiceClient<TClient>(), true);
        }

        return (fallback(), true);
    }

    /// <summary>
    /// The settings for a client StreamLanes builds itself (the hand-written Kinesis and DynamoDB Streams clients, the
    /// lease table's DynamoDB client): <paramref name="aws"/> with region, credentials or profile and endpoint taken
    /// from the registered <see cref="AWSOptions"/> where it sets them, so one AWS setup covers every service.
    /// </summary>
    /// <param name="services">The container.</param>
    /// <param name="aws">The part's own options; returned as is when no <see cref="AWSOptions"/> is registered.</param>
    /// <returns>The options to build the client from.</returns>
    public static AwsClientOptions Effective(IServiceProvider services, AwsClientOptions aws)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(aws);
        if (services.GetService<AWSOptions>() is not { } awsOptions)
        {
            return aws;
        }

        var effective = aws.Clone();
        if (awsOptions.Region is { } region)
        {
            effective.Region = region.SystemName;
        }
        else if (awsOptions.DefaultClientConfig.AuthenticationRegion is { Length: > 0 } authenticationRegion)
        {
            effective.Region = authenticationRegion;
        }

        if (awsOptions.Credentials is { } credentials)
        {
            (effective.Credentials, effective.Profile) = (credentials, null);
        }
        else if (!string.IsNullOrWhiteSpace(awsOptions.Profile))
        {
            (effective.Credentials, effective.Profile, effective.ProfilesLocation) = (null, awsOptions.Profile, awsOptions.ProfilesLocation);
        }

        if (awsOptions.DefaultClientConfig.ServiceURL is { Length: > 0 } serviceUrl)
        {
            effective.ServiceUrl = new Uri(serviceUrl);
        }

        return effective;
    }

    /// <summary>
    /// The endpoint for a DynamoDB client StreamLanes builds for a lease table: <paramref name="explicitUrl"/> when set,
    /// else the registered <see cref="AWSOptions"/>' ServiceURL, else <see langword="null"/> (the region's public endpoint).
    /// </summary>
    public static Uri? DynamoDbServiceUrl(IServiceProvider services, Uri? explicitUrl) =>
        explicitUrl
        ?? (services.GetService<AWSOptions>()?.DefaultClientConfig.ServiceURL is { Length: > 0 } url ? new Uri(url) : null);
}
