using Amazon;
using Amazon.DynamoDBv2;
using StreamLanes.Aws;

namespace StreamLanes.DynamoDb;

/// <summary>What the leased sources' <c>From…</c> methods share: their lease options' rules and their lease table's client.</summary>
internal static class LeaseSetup
{
    /// <summary>The lease and AWS transport rules the leased sources share.</summary>
    public static void ValidateLeasesAndAws(List<string> failures, string prefix, DynamoDbLeaseOptions leases, AwsClientOptions aws)
    {
        failures.AddRange(leases.Validate($"{prefix}Leases:"));
        failures.AddRange(aws.Validate($"{prefix}Aws:"));
    }

    /// <summary>
    /// The lease table's DynamoDB client: the user's <see cref="IAmazonDynamoDB"/> from DI when registered (never
    /// disposed by StreamLanes); else one built at <paramref name="serviceUrl"/> when the source sets it; else one built
    /// from the registered <c>AWSOptions</c>; else one built from the source's AWS options.
    /// </summary>
    /// <returns>The client and whether the source owns (and so disposes) it.</returns>
    public static (IAmazonDynamoDB Client, bool Owned) ResolveDynamoDbClient(IServiceProvider services, AwsClientOptions aws, Uri? serviceUrl)
    {
        if (serviceUrl is not null && services.GetService(typeof(IAmazonDynamoDB)) is null)
        {
            return (CreateDynamoDbClient(aws, serviceUrl), true);
        }

        return AwsServiceClients.Resolve<IAmazonDynamoDB>(services, () => CreateDynamoDbClient(aws, AwsServiceClients.DynamoDbServiceUrl(services, serviceUrl)));
    }

    /// <summary>The DynamoDB client of a leased source's lease table: at <paramref name="serviceUrl"/> when given, else in the options' region.</summary>
    public static AmazonDynamoDBClient CreateDynamoDbClient(AwsClientOptions aws, Uri? serviceUrl)
    {
        var config = new AmazonDynamoDBConfig();
        if (serviceUrl is not null)
        {
            config.ServiceURL = serviceUrl.ToString();
            config.AuthenticationRegion = aws.Region;
        }
        else
        {
            config.RegionEndpoint = RegionEndpoint.GetBySystemName(aws.Region);
        }

        return aws.ResolveCredentials() is { } credentials ? new AmazonDynamoDBClient(credentials, config) : new AmazonDynamoDBClient(config);
    }
}
