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

    /// <summary>The registered <see cref="AWSOptions"/>, if any: for clients the SDK does not ship (Kinesis, DynamoDB Streams).</summary>
    public static AWSOptions? Options(IServiceProvider services) => services.GetService<AWSOptions>();
}
