using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Amazon.Extensions.NETCore.Setup;
using Microsoft.Extensions.DependencyInjection;
using StreamLanes.Aws;
using StreamLanes.Engine.Tests.Support;
using StreamLanes.IntegrationTests.Support;
using StreamLanes.TestInfrastructure;
using static StreamLanes.IntegrationTests.Support.Eventually;

namespace StreamLanes.IntegrationTests.Kinesis;

/// <summary>The hand-written Kinesis client and the lease table's DynamoDB client follow the registered AWSOptions.</summary>
[Collection(KinesisCollection.Name)]
public sealed class KinesisAwsOptionsTests(KinesisAndDynamoDbFixture emulators)
{
    [Fact]
    public async Task A_Kinesis_consumer_takes_region_credentials_and_the_lease_endpoint_from_AWSOptions()
    {
        KinesisTestStream stream = await KinesisTestStream.CreateAsync(emulators.Kinesis.CreateKinesisClient(), EmulatorFixture.UniqueName("orders"), 2);
        await stream.PutAsync(Enumerable.Range(0, 200).Select(i => $"key-{i % 20}"));

        // The user's AWS setup: the stream's region, credentials, and the endpoint that serves DynamoDB (the lease table).
        var awsOptions = new AWSOptions { Region = Amazon.RegionEndpoint.GetBySystemName(EmulatorFixture.Region), Credentials = EmulatorFixture.TestCredentials };
        awsOptions.DefaultClientConfig.ServiceURL = emulators.DynamoDb.ServiceUrl.ToString();

        // The consumer's own options name only the Kinesis endpoint, in another region and without credentials: alone
        // they would neither find the stream nor reach the lease table.
        await using KinesisWorker worker = KinesisWorker.Create(
            emulators,
            stream.Name,
            EmulatorFixture.UniqueName("leases"),
            "worker-1",
            kinesis: options =>
            {
                options.Aws = new AwsClientOptions { Region = "eu-west-3", KinesisServiceUrl = emulators.Kinesis.ServiceUrl };
                options.DynamoDbServiceUrl = null;
            },
            build: consumer => consumer.Services.AddDefaultAWSOptions(awsOptions));
        await worker.StartAsync();
        await WaitUntilAsync(() => worker.Handler.Successes.Count() >= stream.Put.Count, TimeSpan.FromSeconds(60), () => $"{worker.Handler.Successes.Count()}/{stream.Put.Count} {worker.Consumer.GetStatus()}");
        await worker.StopAsync();

        InvariantChecker.Report report = InvariantChecker.Check(stream.Put, worker.Handler, worker.DeadLetters.Envelopes);
        Assert.Equal(0, report.Duplicates);
        Assert.Equal(stream.Put.Count, worker.Handler.Successes.Select(c => InvariantChecker.Id(c.Record)).Distinct().Count());
    }

    [Fact]
    public async Task The_lease_table_uses_the_IAmazonDynamoDB_registered_in_DI_and_never_disposes_it()
    {
        KinesisTestStream stream = await KinesisTestStream.CreateAsync(emulators.Kinesis.CreateKinesisClient(), EmulatorFixture.UniqueName("orders"), 2);
        await stream.PutAsync(Enumerable.Range(0, 50).Select(i => $"key-{i % 10}"));
        using AmazonDynamoDBClient registered = emulators.DynamoDb.CreateDynamoDbClient();
        int requests = 0;
        registered.AfterResponseEvent += (_, _) => Interlocked.Increment(ref requests);

        // The consumer's own lease endpoint answers nothing: only the registered client can reach the lease table.
        string table = EmulatorFixture.UniqueName("leases");
        KinesisWorker worker = KinesisWorker.Create(
            emulators,
            stream.Name,
            table,
            "worker-1",
            kinesis: options => options.DynamoDbServiceUrl = new Uri("http://127.0.0.1:9/"),
            build: consumer => consumer.Services.AddSingleton<IAmazonDynamoDB>(registered));
        await using (worker)
        {
            await worker.StartAsync();
            await WaitUntilAsync(() => worker.Handler.Successes.Select(c => InvariantChecker.Id(c.Record)).Distinct().Count() == stream.Put.Count, TimeSpan.FromSeconds(60));
            await worker.StopAsync();
        }

        Assert.True(Volatile.Read(ref requests) > 0, "the registered client was not used");

        // Still usable after the consumer's host was disposed: StreamLanes did not dispose the user's client.
        DescribeTableResponse described = await registered.DescribeTableAsync(table);
        Assert.Equal(TableStatus.ACTIVE, described.Table.TableStatus);
    }
}
