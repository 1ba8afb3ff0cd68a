using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace StreamLanes.Aws;

/// <summary>What every AWS source's <c>From…</c> method does before building its source.</summary>
internal static class SourceSetup
{
    /// <summary>
    /// Registers a part's options the consumers' one way (<see cref="ConsumerOptions"/>): named by the consumer,
    /// <paramref name="defaults"/>, then <c>StreamConsumers:&lt;consumer&gt;:&lt;section&gt;</c> (checked first for inline
    /// AWS secrets), then the code's <paramref name="configure"/> (code wins), validated at start with
    /// <paramref name="rules"/>, every invalid option named. Also declares the section for the unknown-key warning.
    /// </summary>
    public static void AddOptions<TOptions>(
        StreamConsumerBuilder builder,
        string section,
        Action<TOptions> defaults,
        Action<TOptions>? configure,
        Func<TOptions, string, IReadOnlyList<string>> rules)
        where TOptions : class
    {
        ArgumentNullException.ThrowIfNull(builder);
        string consumer = builder.Name;
        DeclareSection(builder, section, typeof(TOptions));

        // Checked before binding: the binder would fail on Aws:Credentials with "Cannot create instance of type
        // AWSCredentials", naming no option, and an inline key under another name would be ignored while the default
        // chain signed with other credentials.
        ConsumerOptions.Add(
            builder.Services,
            consumer,
            new ConsumerOptionsValidator<TOptions>(section, rules),
            defaults,
            configure,
            (bound, path) =>
            {
                if (InlineSecrets(bound, path) is { Count: > 0 } secrets)
                {
                    throw new OptionsValidationException(consumer, typeof(TOptions), secrets);
                }
            });
    }

    /// <summary>The consumer's <typeparamref name="TOptions"/>, registered with <see cref="AddOptions"/>; throws <see cref="OptionsValidationException"/> naming each invalid option.</summary>
    public static TOptions Options<TOptions>(IServiceProvider services, string consumer)
        where TOptions : class
        => services.GetRequiredService<IOptionsMonitor<TOptions>>().Get(consumer);

    /// <summary>Keys under an <c>Aws</c> section that would carry a secret (any name under <c>Credentials</c>).</summary>
    private static readonly HashSet<string> SecretKeys = new(StringComparer.OrdinalIgnoreCase)
    {
        "AccessKey", "AccessKeyId", "AwsAccessKeyId", "SecretKey", "SecretAccessKey", "AwsSecretAccessKey", "SessionToken", "AwsSessionToken", "Token", "Password",
    };

    /// <summary>One failure per secret-carrying key under <c>&lt;path&gt;:Aws</c>, naming the key, never its value.</summary>
    internal static List<string> InlineSecrets(IConfigurationSection section, string path)
    {
        var failures = new List<string>();
        foreach (IConfigurationSection key in section.GetSection("Aws").GetChildren())
        {
            if (string.Equals(key.Key, "Credentials", StringComparison.OrdinalIgnoreCase) || SecretKeys.Contains(key.Key))
            {
                failures.Add($"{path}:Aws:{key.Key} cannot be set in configuration: StreamLanes never reads AWS secrets from configuration. "
                    + $"Use {path}:Aws:Profile (a profile of the shared AWS config and credentials files, with {path}:Aws:ProfilesLocation for another file), "
                    + "the default credential chain (environment variables, AWS_PROFILE, SSO, web identity, container or instance role), "
                    + "or set AwsClientOptions.Credentials in code.");
            }
        }

        return failures;
    }

    /// <summary>
    /// Declares a section a <c>Use…</c> method binds when its part is built, so that the start-up warning about unknown
    /// keys (which runs before sinks are built) knows its keys.
    /// </summary>
    public static void DeclareSection(StreamConsumerBuilder builder, string section, Type optionsType)
        => builder.Registration.BoundSections.TryAdd(section, optionsType);

    public static TimeProvider Time(IServiceProvider services) => services.GetService<TimeProvider>() ?? TimeProvider.System;

    public static ILoggerFactory Loggers(IServiceProvider services) => services.GetService<ILoggerFactory>() ?? NullLoggerFactory.Instance;

    /// <summary>The read pacing and back-off rules the polling sources share.</summary>
    public static void ValidateReadPacing(List<string> failures, string prefix, TimeSpan idleTimeBetweenReads, TimeSpan minTimeBetweenReads, BackoffOptions? readRetry)
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
        ValidateBackoff(failures, prefix, "ReadRetry", readRetry);
    }

    /// <summary>The rules of a source's retry back-off: the first wait 0 to 1 minute, the longest at most 10 minutes.</summary>
    public static void ValidateBackoff(List<string> failures, string prefix, string name, BackoffOptions? backoff)
    {
        if (backoff is null)
        {
            failures.Add($"{prefix}{name} must be set.");
            return;
        }

        backoff.Validate(failures, prefix, name, TimeSpan.Zero, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(10));
    }
}
