using System.Diagnostics;
using System.Globalization;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Amazon.Runtime;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using StreamLanes;
using StreamLanes.Aws;
using StreamLanes.Kinesis;

// A worker for the multi-process reliability tests. Arguments: stream lease-table worker-id kinesis-url dynamodb-url
// call-log dead-letter-file poison-keys(comma separated) failover-seconds [failure-mode [read-mode [capacity-file]]]. With a capacity file, the
// lease table uses a DynamoDB client registered in DI whose consumed read and write units are written to that file
// (as "read write" totals) four times a second. Every handler call is logged twice, at
// start and at end, with the process-wide monotonic clock, so a test can check order and overlap across processes,
// including the calls a SIGKILL interrupted. An optional tenth argument names the KeyFailureMode (default
// DeadLetterAndContinue), an optional eleventh the KinesisReadMode (default Polling).
if (args.Length < 9)
{
    Console.Error.WriteLine("usage: worker <stream> <lease-table> <worker-id> <kinesis-url> <dynamodb-url> <call-log> <dead-letter-file> <poison-keys> <failover-seconds>");
    return 2;
}

string stream = args[0], table = args[1], workerId = args[2];
var kinesisUrl = new Uri(args[3]);
var dynamoDbUrl = new Uri(args[4]);
string callLog = args[5], deadLetterFile = args[6];
var poison = args[7].Split(',', StringSplitOptions.RemoveEmptyEntries).ToHashSet(StringComparer.Ordinal);
double failover = double.Parse(args[8], CultureInfo.InvariantCulture);
KeyFailureMode mode = args.Length > 9 ? Enum.Parse<KeyFailureMode>(args[9]) : KeyFailureMode.DeadLetterAndContinue;
KinesisReadMode readMode = args.Length > 10 ? Enum.Parse<KinesisReadMode>(args[10]) : KinesisReadMode.Polling;
string? capacityFile = args.Length > 11 ? args[11] : null;

HostApplicationBuilder builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
builder.Services.AddSingleton(new CallLog(callLog, workerId, poison));
CapacityMeter? capacity = null;
if (capacityFile is not null)
{
    // The user's own client from DI: the lease table must use it (and never dispose it).
    var dynamoDb = new AmazonDynamoDBClient(new BasicAWSCredentials("test", "test"), new AmazonDynamoDBConfig { ServiceURL = dynamoDbUrl.ToString(), AuthenticationRegion = "us-east-1" });
    capacity = new CapacityMeter(dynamoDb, capacityFile);
    builder.Services.AddSingleton<IAmazonDynamoDB>(dynamoDb);
}

builder.Services.AddStreamConsumer<LoggingHandler>("orders", options =>
    {
        options.CheckpointInterval = TimeSpan.FromMilliseconds(250);
        options.MaxAttempts = 3;
        options.Retry.InitialDelay = TimeSpan.FromMilliseconds(20);
        options.Retry.MaxDelay = TimeSpan.FromMilliseconds(100);
        options.DrainTimeout = TimeSpan.FromSeconds(10);
    })
    .FromKinesis(stream, kinesis =>
    {
        kinesis.Aws = new AwsClientOptions { Region = "us-east-1", ServiceUrl = kinesisUrl, Credentials = new BasicAWSCredentials("test", "test") };
        kinesis.DynamoDbServiceUrl = dynamoDbUrl;
        kinesis.Leases.TableName = table;
        kinesis.Leases.WorkerId = workerId;
        kinesis.Leases.FailoverTime = TimeSpan.FromSeconds(failover);
        kinesis.Leases.ShardSyncInterval = TimeSpan.FromSeconds(2);
        kinesis.IdleTimeBetweenReads = TimeSpan.FromMilliseconds(100);
        kinesis.MinTimeBetweenReads = TimeSpan.FromMilliseconds(20);
        kinesis.ReadMode = readMode;

        // kinesis-mock never sends ChildShards on a subscription: only this probe finds a shard's end (default 5 s).
        kinesis.FanOut.ShardEndProbeInterval = TimeSpan.FromMilliseconds(500);
    })
    .UseJsonLinesDeadLetters(deadLetterFile)
    .WithFailureMode(mode);

using IHost host = builder.Build();
await host.StartAsync();
Console.WriteLine("ready");
await host.WaitForShutdownAsync();
capacity?.Write();
return 0;

/// <summary>Sums the read and write units DynamoDB reports for the lease table's requests.</summary>
internal sealed class CapacityMeter
{
    private readonly string _path;
    private readonly Timer _timer;
    private double _read;
    private double _write;

    public CapacityMeter(AmazonDynamoDBClient client, string path)
    {
        _path = path;
        client.AfterResponseEvent += (_, e) =>
        {
            ConsumedCapacity? consumed = (e as WebServiceResponseEventArgs)?.Response switch
            {
                ScanResponse r => r.ConsumedCapacity,
                QueryResponse r => r.ConsumedCapacity,
                GetItemResponse r => r.ConsumedCapacity,
                PutItemResponse r => r.ConsumedCapacity,
                UpdateItemResponse r => r.ConsumedCapacity,
                DeleteItemResponse r => r.ConsumedCapacity,
                _ => null,
            };
            if (consumed is null)
            {
                return;
            }

            // DynamoDB Local reports CapacityUnits only; reads and writes are told apart by the request.
            bool read = (e as WebServiceResponseEventArgs)!.Response is ScanResponse or QueryResponse or GetItemResponse;
            lock (this)
            {
                double units = consumed.ReadCapacityUnits ?? (read ? consumed.CapacityUnits ?? 0 : 0);
                _read += units;
                _write += consumed.WriteCapacityUnits ?? (read ? 0 : consumed.CapacityUnits ?? 0);
            }
        };
        _timer = new Timer(_ => Write(), null, TimeSpan.FromMilliseconds(250), TimeSpan.FromMilliseconds(250));
    }

    public void Write()
    {
        string line;
        lock (this)
        {
            line = string.Create(CultureInfo.InvariantCulture, $"{_read} {_write}");
        }

        File.WriteAllText(_path + ".tmp", line);
        File.Move(_path + ".tmp", _path, overwrite: true);
    }
}

/// <summary>Appends one line per call start and end; each line is handed to the OS before the call goes on.</summary>
internal sealed class CallLog(string path, string workerId, HashSet<string> poison)
{
    private readonly StreamWriter _writer = new(new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read)) { AutoFlush = true };

    public string WorkerId => workerId;

    public bool IsPoison(string key) => poison.Contains(key);

    public void Write(char kind, StreamRecord record, int attempt, bool succeeded)
    {
        string line = string.Create(CultureInfo.InvariantCulture,
            $"{kind}|{workerId}|{record.ShardId}|{record.SequenceNumber}|{record.SubSequenceNumber}|{record.PartitionKey}|{attempt}|{Stopwatch.GetTimestamp()}|{(succeeded ? 1 : 0)}");
        lock (_writer)
        {
            _writer.WriteLine(line);
        }
    }
}

internal sealed class LoggingHandler(CallLog log) : IStreamHandler<ReadOnlyMemory<byte>>
{
    public async ValueTask HandleAsync(ReadOnlyMemory<byte> message, HandlerContext context)
    {
        log.Write('S', context.Record, context.Attempt, false);
        bool succeeded = false;
        try
        {
            await Task.Delay(Random.Shared.Next(0, 3), context.CancellationToken);
            if (log.IsPoison(context.Record.PartitionKey))
            {
                throw new InvalidOperationException("poison key");
            }

            succeeded = true;
        }
        finally
        {
            log.Write('E', context.Record, context.Attempt, succeeded);
        }
    }
}
