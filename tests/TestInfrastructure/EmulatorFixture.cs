using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text;
using Amazon.Runtime;
using StreamLanes.Aws;
using Xunit;

namespace StreamLanes.TestInfrastructure;

/// <summary>
/// Makes one emulator reachable for a test collection: uses it when its port already answers, otherwise installs and
/// starts it with <c>scripts/emulators.sh</c>, and stops it at the end if a fixture started it and no other test
/// process still uses it. Fails (never skips) when the emulator cannot be reached.
/// </summary>
/// <remarks>
/// Several test assemblies run in parallel processes and may share one emulator, so the fixtures coordinate through
/// files under <c>.emulators/run/</c>: a lock file around start and stop, one lease file per fixture instance, and a
/// marker saying that a fixture (not a person or CI step) started the emulator. An environment variable
/// (<c>STREAMLANES_KINESIS_URL</c>, <c>STREAMLANES_DYNAMODB_URL</c>, <c>STREAMLANES_SQS_URL</c>) points a fixture at an
/// emulator managed elsewhere: then it only checks that it answers.
/// </remarks>
public abstract class EmulatorFixture : IAsyncLifetime
{
    /// <summary>Credentials the emulators accept (they check the format, not the secret).</summary>
    public static readonly AWSCredentials TestCredentials = new BasicAWSCredentials("test", "test");

    private static readonly TimeSpan LockTimeout = TimeSpan.FromMinutes(10);
    private static readonly TimeSpan ScriptTimeout = TimeSpan.FromMinutes(8);
    private readonly string _scriptName;
    private readonly bool _external;
    private string? _leaseFile;

    /// <summary>Creates the fixture for one emulator.</summary>
    /// <param name="scriptName">The emulator's name in <c>scripts/emulators.sh</c>: kinesis, dynamodb or sqs.</param>
    /// <param name="urlVariable">The environment variable that points at an externally managed emulator.</param>
    /// <param name="portVariable">The environment variable that moves the emulator's port (as the script reads it).</param>
    /// <param name="defaultPort">The port when <paramref name="portVariable"/> is not set.</param>
    protected EmulatorFixture(string scriptName, string urlVariable, string portVariable, int defaultPort)
    {
        _scriptName = scriptName;
        var external = Environment.GetEnvironmentVariable(urlVariable);
        if (!string.IsNullOrWhiteSpace(external))
        {
            ServiceUrl = new Uri(external, UriKind.Absolute);
            _external = true;
        }
        else
        {
            var portText = Environment.GetEnvironmentVariable(portVariable);
            var port = int.TryParse(portText, NumberStyles.Integer, CultureInfo.InvariantCulture, out var p) ? p : defaultPort;
            ServiceUrl = new Uri($"http://127.0.0.1:{port}/");
        }
    }

    /// <summary>The emulator's endpoint, e.g. <c>http://127.0.0.1:4568/</c>.</summary>
    public Uri ServiceUrl { get; }

    /// <summary>Whether this fixture instance started the emulator.</summary>
    public bool StartedByThisFixture { get; private set; }

    /// <summary>The region the tests sign for.</summary>
    public static string Region => "us-east-1";

    /// <summary>A name unique to this run, for streams, tables and queues (letters, digits and dashes; 40 characters at most).</summary>
    public static string UniqueName(string prefix)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(prefix);
        var suffix = Guid.NewGuid().ToString("N")[..12];
        var head = prefix.Length > 27 ? prefix[..27] : prefix;
        return $"{head}-{suffix}";
    }

    /// <inheritdoc />
    public async Task InitializeAsync()
    {
        await ReachAsync().ConfigureAwait(false);
        await WarmUpAsync().ConfigureAwait(false);
    }

    /// <summary>
    /// Runs a few calls once per test process after the emulator answers, so that the first test does not pay for a
    /// freshly started emulator's cold start (JIT, first table) inside its own time bounds.
    /// </summary>
    protected virtual Task WarmUpAsync() => Task.CompletedTask;

    private async Task ReachAsync()
    {
        if (await PortAnswersAsync().ConfigureAwait(false))
        {
            if (!_external)
            {
                await WithLockAsync(() => { TakeLease(); return Task.CompletedTask; }).ConfigureAwait(false);
            }

            return;
        }

        if (_external)
        {
            throw new InvalidOperationException(
                $"The {_scriptName} emulator configured at {ServiceUrl} does not answer. Start it, or unset the URL variable so the tests start their own.");
        }

        await WithLockAsync(async () =>
        {
            if (!await PortAnswersAsync().ConfigureAwait(false))
            {
                var output = await RunScriptAsync("start", _scriptName).ConfigureAwait(false);
                if (!await PortAnswersAsync().ConfigureAwait(false))
                {
                    throw new InvalidOperationException(
                        $"The {_scriptName} emulator did not answer at {ServiceUrl} after 'scripts/emulators.sh start {_scriptName}'. " +
                        $"Script output:{Environment.NewLine}{output}");
                }

                File.WriteAllText(MarkerFile, Environment.ProcessId.ToString(CultureInfo.InvariantCulture));
                StartedByThisFixture = true;
            }

            TakeLease();
        }).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task DisposeAsync()
    {
        if (_external || _leaseFile is null)
        {
            return;
        }

        await WithLockAsync(async () =>
        {
            File.Delete(_leaseFile);
            _leaseFile = null;
            if (LiveLeases().Any() || !File.Exists(MarkerFile))
            {
                return;
            }

            await RunScriptAsync("stop", _scriptName).ConfigureAwait(false);
            File.Delete(MarkerFile);
        }).ConfigureAwait(false);
        GC.SuppressFinalize(this);
    }

    /// <summary>Client options for this emulator's endpoint with <see cref="TestCredentials"/> and fast retries.</summary>
    public AwsClientOptions CreateClientOptions() => new()
    {
        Region = Region,
        ServiceUrl = ServiceUrl,
        Credentials = TestCredentials,
        MaxTransportRetries = 3,
        TransportRetry = { InitialDelay = TimeSpan.FromMilliseconds(50), MaxDelay = TimeSpan.FromSeconds(1) },
        RequestTimeout = TimeSpan.FromSeconds(30),
    };

    private string RunDirectory => Path.Combine(RepositoryRoot.Value, ".emulators", "run");

    private string LeaseDirectory => Path.Combine(RunDirectory, "leases");

    private string MarkerFile => Path.Combine(RunDirectory, _scriptName + ".fixture-started");

    private static readonly Lazy<string> RepositoryRoot = new(FindRepositoryRoot);

    private async Task<bool> PortAnswersAsync()
    {
        using var client = new TcpClient();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        try
        {
            await client.ConnectAsync(ServiceUrl.Host, ServiceUrl.Port, timeout.Token).ConfigureAwait(false);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    private void TakeLease()
    {
        Directory.CreateDirectory(LeaseDirectory);
        _leaseFile = Path.Combine(LeaseDirectory, $"{_scriptName}.{Environment.ProcessId}.{Guid.NewGuid():N}");
        File.WriteAllText(_leaseFile, string.Empty);
    }

    // A lease whose process is gone (a test run that was killed) no longer holds the emulator.
    private IEnumerable<string> LiveLeases()
    {
        if (!Directory.Exists(LeaseDirectory))
        {
            yield break;
        }

        foreach (var file in Directory.GetFiles(LeaseDirectory, _scriptName + ".*"))
        {
            var parts = Path.GetFileName(file).Split('.');
            if (parts.Length == 3 && int.TryParse(parts[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out var pid) && IsAlive(pid))
            {
                yield return file;
            }
            else
            {
                File.Delete(file);
            }
        }
    }

    private static bool IsAlive(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    private async Task WithLockAsync(Func<Task> action)
    {
        Directory.CreateDirectory(RunDirectory);
        var lockPath = Path.Combine(RunDirectory, "fixtures.lock");
        var deadline = Stopwatch.StartNew();
        FileStream? handle = null;
        while (handle is null)
        {
            try
            {
                // FileShare.None takes an exclusive advisory lock on Unix, which other test processes honour.
                handle = new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (deadline.Elapsed < LockTimeout)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(100)).ConfigureAwait(false);
            }
        }

        await using (handle.ConfigureAwait(false))
        {
            await action().ConfigureAwait(false);
        }
    }

    private static async Task<string> RunScriptAsync(string command, string emulator)
    {
        var script = Path.Combine(RepositoryRoot.Value, "scripts", "emulators.sh");
        var startInfo = new ProcessStartInfo("bash")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = RepositoryRoot.Value,
        };
        startInfo.ArgumentList.Add(script);
        startInfo.ArgumentList.Add(command);
        startInfo.ArgumentList.Add(emulator);

        using var process = Process.Start(startInfo)
            ?? throw new InvalidOperationException($"Could not run {script}.");
        var output = new StringBuilder();
        var stdout = PumpAsync(process.StandardOutput, output);
        var stderr = PumpAsync(process.StandardError, output);
        using var timeout = new CancellationTokenSource(ScriptTimeout);
        try
        {
            await process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new InvalidOperationException(
                $"'scripts/emulators.sh {command} {emulator}' did not finish within {ScriptTimeout}. Output:{Environment.NewLine}{output}");
        }

        await Task.WhenAll(stdout, stderr).ConfigureAwait(false);
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException(
                $"'scripts/emulators.sh {command} {emulator}' failed with exit code {process.ExitCode}. Output:{Environment.NewLine}{output}");
        }

        return output.ToString();
    }

    private static async Task PumpAsync(StreamReader reader, StringBuilder sink)
    {
        while (await reader.ReadLineAsync().ConfigureAwait(false) is { } line)
        {
            lock (sink)
            {
                sink.AppendLine(line);
            }
        }
    }

    private static string FindRepositoryRoot()
    {
        var configured = Environment.GetEnvironmentVariable("STREAMLANES_REPO_ROOT");
        if (!string.IsNullOrWhiteSpace(configured))
        {
            return configured;
        }

        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "scripts", "emulators.sh")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException(
            $"Could not find scripts/emulators.sh above {AppContext.BaseDirectory}; set STREAMLANES_REPO_ROOT to the repository root.");
    }
}

/// <summary>kinesis-mock on <c>http://127.0.0.1:4568</c> (or <c>STREAMLANES_KINESIS_URL</c>).</summary>
public sealed class KinesisEmulatorFixture : EmulatorFixture
{
    /// <summary>Creates the fixture.</summary>
    public KinesisEmulatorFixture()
        : base("kinesis", "STREAMLANES_KINESIS_URL", "STREAMLANES_KINESIS_PORT", 4568)
    {
    }

    /// <summary>A Kinesis client for the emulator.</summary>
    internal KinesisClient CreateKinesisClient() => new(CreateClientOptions());
}

/// <summary>DynamoDB Local (DynamoDB and DynamoDB Streams) on <c>http://127.0.0.1:8000</c> (or <c>STREAMLANES_DYNAMODB_URL</c>).</summary>
public sealed class DynamoDbEmulatorFixture : EmulatorFixture
{
    /// <summary>Creates the fixture.</summary>
    public DynamoDbEmulatorFixture()
        : base("dynamodb", "STREAMLANES_DYNAMODB_URL", "STREAMLANES_DYNAMODB_PORT", 8000)
    {
    }

    /// <summary>An AWSSDK.DynamoDBv2 client for the emulator.</summary>
    public Amazon.DynamoDBv2.AmazonDynamoDBClient CreateDynamoDbClient() => new(
        TestCredentials,
        new Amazon.DynamoDBv2.AmazonDynamoDBConfig
        {
            ServiceURL = ServiceUrl.ToString(),
            AuthenticationRegion = Region,
            MaxErrorRetry = 2,
        });

    /// <summary>A DynamoDB Streams client for the emulator.</summary>
    internal DynamoDbStreamsClient CreateStreamsClient() => new(CreateClientOptions());

    private static readonly SemaphoreSlim WarmUpGate = new(1, 1);
    private static bool _warm;

    /// <summary>
    /// A freshly started DynamoDB Local answers its first table's calls slowly for a few seconds (its JVM compiles
    /// them): slow enough for a lease test's one-second renewals to be late. The same calls the lease table makes (a
    /// table, conditional puts and updates, scans) are run once here first.
    /// </summary>
    protected override async Task WarmUpAsync()
    {
        await WarmUpGate.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_warm)
            {
                return;
            }

            using Amazon.DynamoDBv2.AmazonDynamoDBClient client = CreateDynamoDbClient();
            string table = UniqueName("warm-up");
            await client.CreateTableAsync(new Amazon.DynamoDBv2.Model.CreateTableRequest
            {
                TableName = table,
                BillingMode = Amazon.DynamoDBv2.BillingMode.PAY_PER_REQUEST,
                KeySchema = [new Amazon.DynamoDBv2.Model.KeySchemaElement("leaseKey", Amazon.DynamoDBv2.KeyType.HASH)],
                AttributeDefinitions = [new Amazon.DynamoDBv2.Model.AttributeDefinition("leaseKey", Amazon.DynamoDBv2.ScalarAttributeType.S)],
            }).ConfigureAwait(false);
            for (int i = 0; i < 50; i++)
            {
                var key = new Dictionary<string, Amazon.DynamoDBv2.Model.AttributeValue> { ["leaseKey"] = new($"shard-{i % 5}") };
                await client.UpdateItemAsync(new Amazon.DynamoDBv2.Model.UpdateItemRequest
                {
                    TableName = table,
                    Key = key,
                    UpdateExpression = "SET leaseOwner = :owner ADD leaseCounter :one",
                    ConditionExpression = "attribute_not_exists(leaseOwner) OR leaseOwner = :owner",
                    ExpressionAttributeValues = new() { [":owner"] = new("warm-up"), [":one"] = new() { N = "1" } },
                }).ConfigureAwait(false);
                await client.ScanAsync(new Amazon.DynamoDBv2.Model.ScanRequest { TableName = table, ConsistentRead = true }).ConfigureAwait(false);
            }

            await client.DeleteTableAsync(table).ConfigureAwait(false);
            _warm = true;
        }
        finally
        {
            WarmUpGate.Release();
        }
    }
}

/// <summary>fauxqs (SQS, SNS, S3) on <c>http://127.0.0.1:4566</c> (or <c>STREAMLANES_SQS_URL</c>).</summary>
public sealed class SqsEmulatorFixture : EmulatorFixture
{
    /// <summary>Creates the fixture.</summary>
    public SqsEmulatorFixture()
        : base("sqs", "STREAMLANES_SQS_URL", "STREAMLANES_SQS_PORT", 4566)
    {
    }

    /// <summary>An SQS client for the emulator.</summary>
    internal SqsClient CreateSqsClient() => new(CreateClientOptions());
}

/// <summary>
/// The collection names test projects use for their emulator collections. xunit 2 reads collection definitions only
/// from the test assembly itself, so each test project declares its own (see the README of this project).
/// </summary>
public static class EmulatorCollections
{
    /// <summary>Tests that share the Kinesis emulator.</summary>
    public const string Kinesis = "Kinesis emulator";

    /// <summary>Tests that share DynamoDB Local.</summary>
    public const string DynamoDb = "DynamoDB emulator";

    /// <summary>Tests that share the SQS emulator.</summary>
    public const string Sqs = "SQS emulator";
}
