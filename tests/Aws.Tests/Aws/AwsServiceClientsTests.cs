using Amazon;
using Amazon.Extensions.NETCore.Setup;
using Amazon.Runtime;
using Amazon.SQS;
using Microsoft.Extensions.DependencyInjection;
using StreamLanes.Aws;

namespace StreamLanes.Aws.Tests.Aws;

/// <summary>Where StreamLanes gets AWS clients: the user's from DI, else AWSOptions, else its own options.</summary>
public sealed class AwsServiceClientsTests
{
    private static readonly BasicAWSCredentials Credentials = new("user", "secret");

    [Fact]
    public void A_registered_client_is_used_and_not_owned()
    {
        using var registered = new AmazonSQSClient(Credentials, new AmazonSQSConfig { ServiceURL = "http://127.0.0.1:1/" });
        using var services = new ServiceCollection().AddSingleton<IAmazonSQS>(registered).BuildServiceProvider();

        var (client, owned) = AwsServiceClients.Resolve<IAmazonSQS>(services, () => throw new InvalidOperationException("fallback used"));

        Assert.Same(registered, client);
        Assert.False(owned);
    }

    [Fact]
    public void Registered_AWSOptions_build_an_owned_client_with_their_endpoint()
    {
        var awsOptions = new AWSOptions { Region = RegionEndpoint.EUWest2, Credentials = Credentials };
        awsOptions.DefaultClientConfig.ServiceURL = "http://127.0.0.1:2/";
        using var services = new ServiceCollection().AddDefaultAWSOptions(awsOptions).BuildServiceProvider();

        var (client, owned) = AwsServiceClients.Resolve<IAmazonSQS>(services, () => throw new InvalidOperationException("fallback used"));
        using (client)
        {
            Assert.True(owned);
            Assert.Equal("http://127.0.0.1:2/", client.Config.ServiceURL);
        }
    }

    [Fact]
    public void Without_either_the_fallback_builds_an_owned_client()
    {
        using var services = new ServiceCollection().BuildServiceProvider();
        using var built = new AmazonSQSClient(Credentials, new AmazonSQSConfig { ServiceURL = "http://127.0.0.1:3/" });

        var (client, owned) = AwsServiceClients.Resolve<IAmazonSQS>(services, () => built);

        Assert.Same(built, client);
        Assert.True(owned);
    }

    [Fact]
    public void Hand_written_clients_take_region_credentials_and_endpoint_from_AWSOptions()
    {
        var awsOptions = new AWSOptions { Region = RegionEndpoint.EUWest2, Credentials = Credentials };
        awsOptions.DefaultClientConfig.ServiceURL = "http://127.0.0.1:4/";
        using var services = new ServiceCollection().AddDefaultAWSOptions(awsOptions).BuildServiceProvider();
        var own = new AwsClientOptions { Region = "us-east-1", Profile = null, MaxTransportRetries = 7 };

        AwsClientOptions effective = AwsServiceClients.Effective(services, own);

        Assert.Equal("eu-west-2", effective.Region);
        Assert.Same(Credentials, effective.Credentials);
        Assert.Equal(new Uri("http://127.0.0.1:4/"), effective.ServiceUrl);
        Assert.Equal(7, effective.MaxTransportRetries);
        Assert.Equal("us-east-1", own.Region);
        Assert.Equal(new Uri("http://127.0.0.1:4/"), AwsServiceClients.DynamoDbServiceUrl(services, null));
        Assert.Equal(new Uri("http://127.0.0.1:5/"), AwsServiceClients.DynamoDbServiceUrl(services, new Uri("http://127.0.0.1:5/")));
    }

    [Fact]
    public void A_profile_from_AWSOptions_replaces_the_own_credentials()
    {
        using var services = new ServiceCollection().AddDefaultAWSOptions(new AWSOptions { Profile = "ops", ProfilesLocation = "/tmp/none" }).BuildServiceProvider();

        AwsClientOptions effective = AwsServiceClients.Effective(services, new AwsClientOptions { Credentials = Credentials });

        Assert.Null(effective.Credentials);
        Assert.Equal(("ops", "/tmp/none"), (effective.Profile, effective.ProfilesLocation));
    }

    [Fact]
    public void Without_AWSOptions_the_own_options_are_used_as_is()
    {
        using var services = new ServiceCollection().BuildServiceProvider();
        var own = new AwsClientOptions { Region = "ap-south-1" };

        Assert.Same(own, AwsServiceClients.Effective(services, own));
        Assert.Null(AwsServiceClients.DynamoDbServiceUrl(services, null));
    }
}

/// <summary>The S3 claim check built in DI uses the user's registered <see cref="Amazon.S3.IAmazonS3"/> and leaves it alone.</summary>
public sealed class S3ClaimCheckClientFromDiTests
{
    [Fact]
    public async Task A_registered_IAmazonS3_is_used_and_not_disposed_with_the_container()
    {
        using var registered = new TrackingS3Client();
        var services = new ServiceCollection();
        services.AddSingleton<Amazon.S3.IAmazonS3>(registered);
        services.AddStreamConsumer<NoOp>("orders").UseS3ClaimCheck("bucket");
        var provider = services.BuildServiceProvider();

        StreamLanes.S3.S3ClaimCheck? claimCheck = StreamLanes.S3.S3ClaimCheckBuilderExtensions.For(provider, "orders");
        Assert.NotNull(claimCheck);
        var pointer = new StreamLanes.S3.ClaimCheckPointer { Bucket = "bucket", Key = "streamlanes/dead-letters/orders/" + new string('a', 64) + ".json", Size = 1, Sha256 = new string('a', 64), DeadLetterId = "x" };
        Exception error = await Assert.ThrowsAnyAsync<Exception>(() => claimCheck.DeleteAsync(pointer, default));
        Assert.True(registered.Calls > 0, $"the registered S3 client was not used: {error.Message}");
        await provider.DisposeAsync();

        Assert.True(registered.Calls > 0, "the registered S3 client was not used");
        Assert.False(registered.Disposed, "StreamLanes disposed a client it does not own");
    }

    private sealed class NoOp : IStreamHandler<string>
    {
        public ValueTask HandleAsync(string message, HandlerContext context) => ValueTask.CompletedTask;
    }

    private sealed class TrackingS3Client() : Amazon.S3.AmazonS3Client(new BasicAWSCredentials("a", "b"), new Amazon.S3.AmazonS3Config { ServiceURL = "http://127.0.0.1:1/", ForcePathStyle = true, MaxErrorRetry = 0 })
    {
        public int Calls { get; private set; }

        public bool Disposed { get; private set; }

        public override Task<Amazon.S3.Model.DeleteObjectResponse> DeleteObjectAsync(Amazon.S3.Model.DeleteObjectRequest request, CancellationToken cancellationToken = default)
        {
            Calls++;
            return base.DeleteObjectAsync(request, cancellationToken);
        }

        public override Task<Amazon.S3.Model.DeleteObjectResponse> DeleteObjectAsync(string bucketName, string key, CancellationToken cancellationToken = default)
        {
            Calls++;
            return base.DeleteObjectAsync(bucketName, key, cancellationToken);
        }

        protected override void Dispose(bool disposing)
        {
            Disposed = true;
            base.Dispose(disposing);
        }
    }
}
