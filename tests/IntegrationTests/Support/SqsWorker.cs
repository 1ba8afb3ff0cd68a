using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using StreamLanes.Engine.Tests.Support;
using StreamLanes.Sinks;
using StreamLanes.TestInfrastructure;

namespace StreamLanes.IntegrationTests.Support;

/// <summary>One worker: a host with one SQS consumer, as a separate process would run it.</summary>
public sealed class SqsWorker : HostedWorker
{
    private SqsWorker(IHost host, RecordingHandler handler, InMemoryDeadLetterSink deadLetters)
        : base(host, handler, deadLetters)
    {
    }

    public static SqsWorker Create(
        SqsEmulatorFixture sqs,
        string queue,
        Action<StreamConsumerOptions>? configure = null,
        Action<SqsSourceOptions>? source = null,
        RecordingHandler? handler = null,
        Action<StreamConsumerBuilder>? consumer = null)
    {
        handler ??= new RecordingHandler();
        var deadLetters = new InMemoryDeadLetterSink();
        HostApplicationBuilder builder = Microsoft.Extensions.Hosting.Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddSingleton(handler);
        if (Environment.GetEnvironmentVariable("STREAMLANES_TEST_LOGS") == "1")
        {
            builder.Services.AddLogging(logging => logging.AddSimpleConsole());
        }

        StreamConsumerBuilder built = builder.Services
            .AddStreamConsumer<RecordingHandler>("orders", options =>
            {
                options.Retry.InitialDelay = TimeSpan.FromMilliseconds(50);
                options.Retry.MaxDelay = TimeSpan.FromMilliseconds(200);
                options.MaxAttempts = 3;
                options.DrainTimeout = TimeSpan.FromSeconds(10);
                configure?.Invoke(options);
            })
            .FromSqs(queue, options =>
            {
                options.Aws = sqs.CreateClientOptions();
                options.Receivers = 3;
                options.WaitTime = TimeSpan.FromSeconds(1);
                source?.Invoke(options);
            })
            .UseDeadLetterSink(deadLetters);
        consumer?.Invoke(built);
        return new SqsWorker(builder.Build(), handler, deadLetters);
    }
}
