using Amazon;
using Amazon.DynamoDBv2;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace StreamLanes;

/// <summary>What every AWS source's <c>From…</c> method does before building its source.</summary>
internal static class SourceSetup
{
    /// <summary>
    /// Binds <c>StreamConsumers:&lt;consumer&gt;:&lt;section&gt;</c> over <paramref name="options"/>' defaults, applies the
    /// code's <paramref name="configure"/> (code wins), and validates, failing start-up with every invalid option named.
    /// </summary>
    public static TOptions Bind<TOptions>(
        IServiceProvider services,
        string consumer,
        string section,
        TOptions options,
        Action<TOptions>? configure,
        Func<TOptions, string, IReadOnlyList<string>> validate)
        where TOptions : class
    {
        string path = $"{StreamConsumerOptions.ConfigurationSection}:{consumer}:{section}";
        services.GetService<IConfiguration>()?.GetSection(path).Bind(options);
        configure?.Invoke(options);
        IReadOnlyList<string> failures = validate(options, path + ":");
        if (failures.Count > 0)
        {
            throw new OptionsValidationException(consumer, typeof(TOptions), failures);
        }

        return options;
    }

    public static TimeProvider Time(IServiceProvider services) => services.GetService<TimeProvider>() ?? TimeProvider.System;

    public static ILoggerFactory Loggers(IServiceProvider services) => services.GetService<ILoggerFactory>() ?? NullLoggerFactory.Instance;

    /// <summary>The read pacing and back-off rules the polling sources share.</summary>
    public static void ValidateReadPacing(List<string> failures, string prefix, TimeSpan idleTimeBetweenReads, TimeSpan minTimeBetweenReads, TimeSpan readBackoff, TimeSpan maxReadBackoff)
    {
        void CheckDelay(TimeSpan value, string name)
        {
            if (value < TimeSpan.Zero || value > TimeSpan.FromMinutes(1))
            {
                failures.Add($"{prefix}{name} must be between 00:00:00 and 00:01:00; it was {value}.");
            }
        }

        CheckDelay(idleTimeBetweenReads, "IdleTimeBetweenReads");
        CheckDelay(minTimeBetweenReads, "MinTimeBetweenReads");
        CheckDelay(readBackoff, "ReadBackoff");
        if (maxReadBackoff < readBackoff || maxReadBackoff > TimeSpan.FromMinutes(10))
        {
            failures.Add($"{prefix}MaxReadBackoff must be at least ReadBackoff ({readBackoff}) and at most 00:10:00; it was {maxReadBackoff}.");
        }
    }

    /// <summary>The lease and AWS transport rules the leased sources share.</summary>
    public static void ValidateLeasesAndAws(List<string> failures, string prefix, Checkpointing.DynamoDbLeaseOptions leases, Aws.AwsClientOptions aws)
    {
        failures.AddRange(leases.Validate($"{prefix}Leases:"));
        try
        {
            aws.Validate();
        }
        catch (ArgumentException ex)
        {
            failures.Add($"{prefix}Aws: {ex.Message}");
        }
    }

    /// <summary>The DynamoDB client of a leased source's lease table: at <paramref name="serviceUrl"/> when given, else in the options' region.</summary>
    public static AmazonDynamoDBClient CreateDynamoDbClient(Aws.AwsClientOptions aws, Uri? serviceUrl)
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

        return aws.Credentials is null ? new AmazonDynamoDBClient(config) : new AmazonDynamoDBClient(aws.Credentials, config);
    }
}
