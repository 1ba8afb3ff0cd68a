using Amazon.SQS;
using StreamLanes.Aws;

namespace StreamLanes.Sqs;

/// <summary>The SQS client of a source or sink built in DI: the user's <see cref="IAmazonSQS"/> when registered.</summary>
internal static class SqsClientFactory
{
    /// <summary>
    /// The user's <see cref="IAmazonSQS"/> (not disposed by StreamLanes), else one from the registered AWSOptions,
    /// else one from <paramref name="aws"/>.
    /// </summary>
    public static SqsClient Create(IServiceProvider services, AwsClientOptions aws)
    {
        ArgumentNullException.ThrowIfNull(aws);
        var (client, owned) = AwsServiceClients.Resolve<IAmazonSQS>(
            services,
            () => new SqsClient(aws).Sdk);
        return new SqsClient(client, owned);
    }
}
