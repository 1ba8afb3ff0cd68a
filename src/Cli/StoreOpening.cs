using System.CommandLine;
using Amazon.DynamoDBv2;
using Amazon.Runtime;
using Amazon.S3;
using StreamLanes.Aws;
using StreamLanes.DynamoDb;
using StreamLanes.S3;
using StreamLanes.Sqs;
using StreamLanes.Sinks;

namespace StreamLanes.Cli;

/// <summary>Opening the one store a command works on, from the operator's options.</summary>
internal static partial class StreamLanesCli
{
    private static async Task<Store?> OpenStoreAsync(ParseResult parse, TextWriter error)
    {
        string? file = parse.GetValue(FileOption);
        string? queue = parse.GetValue(SqsQueueOption);
        string? table = parse.GetValue(DynamoDbTableOption);
        if (new[] { file, queue, table }.Count(static s => s is not null) != 1)
        {
            await error.WriteLineAsync("Choose exactly one store: --file <path>, --sqs-queue-url <url> or --dynamodb-table <name>.").ConfigureAwait(false);
            return null;
        }

        if (CliInput.Problem(parse, file, RegionOption, [EndpointOption, SqsEndpointOption, S3EndpointOption, DynamoDbEndpointOption, KinesisEndpointOption, SqsQueueOption, ToSqsOption]) is { } problem)
        {
            await error.WriteLineAsync(problem).ConfigureAwait(false);
            return null;
        }

        var disposables = new List<IDisposable>();
        S3ClaimCheck? claimCheck = null;
        try
        {
            if (parse.GetValue(S3BucketOption) is { } bucket)
            {
                var s3Config = new AmazonS3Config { ForcePathStyle = true };
                if (Endpoint(parse, S3EndpointOption) is { } s3Url)
                {
                    s3Config.ServiceURL = s3Url;
                    s3Config.AuthenticationRegion = Region(parse);
                }
                else
                {
                    s3Config.RegionEndpoint = Amazon.RegionEndpoint.GetBySystemName(Region(parse));
                }

                var s3 = new AmazonS3Client(s3Config);
                disposables.Add(s3);
                claimCheck = new S3ClaimCheck(s3, new S3ClaimCheckOptions { BucketName = bucket, KeyPrefix = parse.GetValue(S3PrefixOption) ?? new S3ClaimCheckOptions().KeyPrefix });
            }

            if (file is not null)
            {
                var sink = new JsonLinesDeadLetterSink(file);
                return new Store(sink, disposables, sink) { File = sink };
            }

            if (queue is not null)
            {
                var sqs = new SqsClient(AwsOptions(parse, parse.GetValue(SqsEndpointOption)));
                disposables.Add(sqs);
                var sink = new SqsDeadLetterSink(sqs, new SqsDeadLetterSinkOptions { QueueUrl = queue }, claimCheck);
                return new Store(sink, disposables, sink);
            }

            var dynamoConfig = new AmazonDynamoDBConfig();
            if (Endpoint(parse, DynamoDbEndpointOption) is { } dynamoUrl)
            {
                dynamoConfig.ServiceURL = dynamoUrl;
                dynamoConfig.AuthenticationRegion = Region(parse);
            }
            else
            {
                dynamoConfig.RegionEndpoint = Amazon.RegionEndpoint.GetBySystemName(Region(parse));
            }

            var dynamo = new AmazonDynamoDBClient(dynamoConfig);
            disposables.Add(dynamo);
            var dynamoSink = new DynamoDbDeadLetterSink(dynamo, new DynamoDbDeadLetterSinkOptions { TableName = table!, CreateTableIfMissing = false }, claimCheck);
            disposables.Add(dynamoSink);
            return new Store(dynamoSink, disposables, null);
        }
        catch (Exception ex) when (ex is ArgumentException or UriFormatException or AmazonClientException)
        {
            foreach (IDisposable disposable in disposables)
            {
                disposable.Dispose();
            }

            await error.WriteLineAsync(ex.Message).ConfigureAwait(false);
            return null;
        }
    }

    private static string Region(ParseResult parse) => parse.GetValue(RegionOption) ?? new AwsClientOptions().Region;

    private static string? Endpoint(ParseResult parse, Option<string?> specific) => parse.GetValue(specific) ?? parse.GetValue(EndpointOption);

    private static AwsClientOptions AwsOptions(ParseResult parse, string? specific)
    {
        var options = new AwsClientOptions { Region = Region(parse) };
        if ((specific ?? parse.GetValue(EndpointOption)) is { } url)
        {
            options.ServiceUrl = new Uri(url, UriKind.Absolute);
        }

        return options;
    }

    /// <summary>The opened store and what to dispose with it.</summary>
    private sealed class Store(IDeadLetterStore deadLetters, List<IDisposable> disposables, IAsyncDisposable? asyncDisposable) : IAsyncDisposable
    {
        public IDeadLetterStore DeadLetters { get; } = deadLetters;

        /// <summary>The JSON-lines file, when the store is one.</summary>
        public JsonLinesDeadLetterSink? File { get; init; }

        public async ValueTask DisposeAsync()
        {
            if (asyncDisposable is not null)
            {
                await asyncDisposable.DisposeAsync().ConfigureAwait(false);
            }

            foreach (IDisposable disposable in disposables)
            {
                disposable.Dispose();
            }
        }
    }
}
