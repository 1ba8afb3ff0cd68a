using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace StreamLanes;

/// <summary>
/// The one way every options type of a consumer is registered: named options (the consumer's name) built from the
/// defaults, then configuration section <c>StreamConsumers:&lt;name&gt;[:&lt;section&gt;]</c> (renamed keys included),
/// then the code's <c>configure</c> (code wins), and validated at start by one <see cref="IValidateOptions{TOptions}"/>,
/// <see cref="ConsumerOptionsValidator{TOptions}"/>, whose failures name each option with its full key and its rule.
/// </summary>
internal static class ConsumerOptions
{
    /// <summary>The configuration path of a consumer's options: <c>StreamConsumers:&lt;consumer&gt;</c>, then <c>:&lt;section&gt;</c> if any.</summary>
    public static string Path(string? consumer, string? section)
        => section is null ? $"{StreamConsumerOptions.ConfigurationSection}:{consumer}" : $"{StreamConsumerOptions.ConfigurationSection}:{consumer}:{section}";

    /// <summary>Registers <typeparamref name="TOptions"/> for <paramref name="consumer"/> (see the type's summary).</summary>
    /// <param name="services">The services.</param>
    /// <param name="consumer">The consumer's name, which names the options.</param>
    /// <param name="validator">The type's validator (one per type; it also names the sub-section under the consumer's).</param>
    /// <param name="defaults">Sets the defaults that depend on the registration (e.g. the stream's name).</param>
    /// <param name="configure">The code's settings.</param>
    /// <param name="beforeBinding">Checks the section before the binder reads it (e.g. that it carries no secret).</param>
    public static OptionsBuilder<TOptions> Add<TOptions>(
        IServiceCollection services,
        string consumer,
        ConsumerOptionsValidator<TOptions> validator,
        Action<TOptions>? defaults = null,
        Action<TOptions>? configure = null,
        Action<IConfigurationSection, string>? beforeBinding = null)
        where TOptions : class
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(validator);
        services.AddOptions();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<TOptions>>(validator));
        string path = Path(consumer, validator.Section);
        OptionsBuilder<TOptions> options = services.AddOptions<TOptions>(consumer);
        if (defaults is not null)
        {
            options.Configure(defaults);
        }

        // BindConfiguration's equivalent that tolerates a container without IConfiguration (code-only set-ups), and
        // binds the keys renamed since (see RenamedOptionKeys).
        options.Configure<IServiceProvider>((value, provider) =>
        {
            if (provider.GetService<IConfiguration>()?.GetSection(path) is { } bound)
            {
                beforeBinding?.Invoke(bound, path);
                bound.Bind(value);
                RenamedOptionKeys.Bind(bound, value);
            }
        });
        if (configure is not null)
        {
            options.Configure(configure);
        }

        return options.ValidateOnStart();
    }
}

/// <summary>
/// Validates a consumer's <typeparamref name="TOptions"/> (of any consumer: the name gives the prefix) with the type's
/// rules, reporting every failure at once, each naming the option's full configuration key and the rule.
/// </summary>
internal class ConsumerOptionsValidator<TOptions>(string? section, Func<TOptions, string, IReadOnlyList<string>> rules) : IValidateOptions<TOptions>
    where TOptions : class
{
    /// <summary>The sub-section under the consumer's, or null for the consumer's own.</summary>
    public string? Section => section;

    public ValidateOptionsResult Validate(string? name, TOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        IReadOnlyList<string> failures = rules(options, ConsumerOptions.Path(name, section) + ":");
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
