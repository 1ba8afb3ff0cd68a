namespace StreamLanes.Aws.Tests;

public sealed class AwsClientOptionsTests
{
    [Fact]
    public void Defaults_are_valid_and_documented_values()
    {
        var options = new AwsClientOptions();

        options.Validate();
        Assert.Equal(3, options.MaxTransportRetries);
        Assert.Equal(TimeSpan.FromMilliseconds(100), options.TransportRetry.InitialDelay);
        Assert.Equal(TimeSpan.FromSeconds(5), options.TransportRetry.MaxDelay);
        Assert.Equal(TimeSpan.FromSeconds(30), options.RequestTimeout);
        Assert.Null(options.Credentials);
        Assert.False(string.IsNullOrWhiteSpace(options.Region));
    }

    [Fact]
    public void Invalid_settings_are_all_reported()
    {
        var options = new AwsClientOptions
        {
            MaxTransportRetries = -1,
            TransportRetry = { InitialDelay = TimeSpan.FromSeconds(10), MaxDelay = TimeSpan.FromSeconds(1) },
            KinesisServiceUrl = new Uri("ftp://example.com/"),
        };

        var error = Assert.Throws<ArgumentException>(options.Validate);

        Assert.Contains("AwsClientOptions.MaxTransportRetries must be between 0 and 20, not -1.", error.Message, StringComparison.Ordinal);
        Assert.Contains("AwsClientOptions.TransportRetry:MaxDelay must be at least TransportRetry:InitialDelay (00:00:10)", error.Message, StringComparison.Ordinal);
        Assert.Contains("AwsClientOptions.KinesisServiceUrl must be an absolute http or https URL, not 'ftp://example.com/'.", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_blank_region_and_an_out_of_range_request_timeout_are_named_with_their_rule()
    {
        var error = Assert.Throws<ArgumentException>(new AwsClientOptions { Region = " ", RequestTimeout = TimeSpan.Zero }.Validate);

        Assert.Contains("AwsClientOptions.Region must be set, e.g. us-east-1.", error.Message, StringComparison.Ordinal);
        Assert.Contains("AwsClientOptions.RequestTimeout must be between 00:00:00.001 and 01:00:00, not 00:00:00.", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Clients_validate_their_options()
    {
        Assert.Throws<ArgumentException>(() => new KinesisClient(new AwsClientOptions { Region = "" }));
    }

    [Theory]
    [InlineData("eu-west-1", null, null, "https://kinesis.eu-west-1.amazonaws.com/")]
    [InlineData("cn-north-1", null, null, "https://kinesis.cn-north-1.amazonaws.com.cn/")]
    [InlineData("us-east-1", "http://127.0.0.1:4566/", null, "http://127.0.0.1:4566/")]
    [InlineData("us-east-1", "http://127.0.0.1:4566/", "http://127.0.0.1:4568/", "http://127.0.0.1:4568/")]
    public void Endpoint_comes_from_the_service_override_then_the_shared_one_then_the_region(
        string region, string? shared, string? kinesis, string expected)
    {
        using var client = new KinesisClient(new AwsClientOptions
        {
            Region = region,
            ServiceUrl = shared is null ? null : new Uri(shared),
            KinesisServiceUrl = kinesis is null ? null : new Uri(kinesis),
        });

        Assert.Equal(new Uri(expected), client.Endpoint);
    }

    [Fact]
    public void DynamoDb_streams_and_sqs_have_their_own_public_endpoints()
    {
        var options = new AwsClientOptions { Region = "eu-central-1" };
        using var streams = new DynamoDbStreamsClient(options);
        using var sqs = new SqsClient(options);

        Assert.Equal(new Uri("https://streams.dynamodb.eu-central-1.amazonaws.com/"), streams.Endpoint);
        Assert.Equal(new Uri("https://sqs.eu-central-1.amazonaws.com/"), sqs.Endpoint);
    }
}
