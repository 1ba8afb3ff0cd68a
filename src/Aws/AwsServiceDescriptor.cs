namespace StreamLanes.Aws;

/// <summary>How one AWS JSON-protocol service is addressed, targeted and signed.</summary>
/// <param name="Name">The name used in errors and logs.</param>
/// <param name="SigningName">The SigV4 service name.</param>
/// <param name="TargetPrefix">The <c>X-Amz-Target</c> prefix before the operation name.</param>
/// <param name="ContentType">The JSON protocol version's content type.</param>
/// <param name="EndpointPrefix">The host prefix of the public endpoint.</param>
internal sealed record AwsServiceDescriptor(string Name, string SigningName, string TargetPrefix, string ContentType, string EndpointPrefix)
{
    public static readonly AwsServiceDescriptor Kinesis =
        new("Kinesis", "kinesis", "Kinesis_20131202", "application/x-amz-json-1.1", "kinesis");

    // DynamoDB Streams signs as "dynamodb" although its endpoint is streams.dynamodb.
    public static readonly AwsServiceDescriptor DynamoDbStreams =
        new("DynamoDBStreams", "dynamodb", "DynamoDBStreams_20120810", "application/x-amz-json-1.0", "streams.dynamodb");

    /// <summary>The configured override for this service, else the shared override, else the public regional endpoint.</summary>
    public Uri ResolveEndpoint(AwsClientOptions options, Uri? serviceOverride)
    {
        var configured = serviceOverride ?? options.ServiceUrl;
        if (configured is not null)
        {
            return configured;
        }

        var suffix = options.Region.StartsWith("cn-", StringComparison.OrdinalIgnoreCase) ? "amazonaws.com.cn" : "amazonaws.com";
        return new Uri($"https://{EndpointPrefix}.{options.Region}.{suffix}/");
    }
}
