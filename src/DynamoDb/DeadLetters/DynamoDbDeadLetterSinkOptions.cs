using StreamLanes.Aws;

namespace StreamLanes.DynamoDb;

/// <summary>Options of <see cref="DynamoDbDeadLetterSink"/>.</summary>
public sealed class DynamoDbDeadLetterSinkOptions
{
    /// <summary>The table's name (3 to 255 characters: letters, digits, <c>_ - .</c>). Required.</summary>
    public string TableName { get; set; } = string.Empty;

    /// <summary>
    /// Creates the table (on-demand billing, keys <c>pk</c> and <c>sk</c>) on first use when it does not exist.
    /// Default: <see langword="true"/>.
    /// </summary>
    public bool CreateTableIfMissing { get; set; } = true;

    /// <summary>
    /// The largest envelope stored inline, in bytes; a larger one goes to S3 (claim check) and the item keeps a pointer.
    /// DynamoDB's item limit is 400 KB including attribute names and the indexed attributes, hence the margin.
    /// Default: 350,000 (at most 390,000).
    /// </summary>
    public int MaxItemBytes { get; set; } = 350_000;

    /// <summary>
    /// Region, endpoint (<see cref="AwsClientOptions.ServiceUrl"/>) and credentials of the DynamoDB client that
    /// <c>UseDynamoDbDeadLetters</c> creates; a sink given its own client ignores them. Default: <see cref="AwsClientOptions"/>' defaults.
    /// </summary>
    public AwsClientOptions Aws { get; set; } = new();

    /// <summary>Checks the options and throws an <see cref="ArgumentException"/> naming each invalid option and its rule.</summary>
    /// <exception cref="ArgumentException">An option is invalid.</exception>
    public void Validate()
    {
        IReadOnlyList<string> failures = Validate(nameof(DynamoDbDeadLetterSinkOptions) + ".");
        if (failures.Count > 0)
        {
            throw new ArgumentException(string.Join(" ", failures));
        }
    }

    /// <summary>
    /// The options' rules, as one failure per invalid option named under <paramref name="prefix"/>: the consumer's
    /// start-up validation passes the configuration path (<c>StreamConsumers:orders:DynamoDbDeadLetters:</c>), <see cref="Validate()"/>
    /// the type's name.
    /// </summary>
    internal IReadOnlyList<string> Validate(string prefix)
    {
        var failures = new List<string>();
        if (string.IsNullOrWhiteSpace(TableName) || TableName.Length is < 3 or > 255
            || !TableName.All(static c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.'))
        {
            failures.Add($"{prefix}{nameof(TableName)} must be 3 to 255 characters of letters, digits, '_', '-' and '.', not '{TableName}'.");
        }

        if (MaxItemBytes is < 1024 or > 390_000)
        {
            failures.Add($"{prefix}{nameof(MaxItemBytes)} must be between 1,024 and 390,000 bytes, not {MaxItemBytes}.");
        }

        failures.AddRange(Aws.Validate(prefix + nameof(Aws) + ":"));
        return failures;
    }

    internal DynamoDbDeadLetterSinkOptions Clone() => (DynamoDbDeadLetterSinkOptions)MemberwiseClone();
}
