using System.Diagnostics.CodeAnalysis;

namespace StreamLanes.Checkpointing;

/// <summary>
/// A position in a shard: a sequence number (a non-negative decimal string of any length, compared numerically,
/// as Kinesis and DynamoDB Streams issue them) plus a sub-sequence number (the index of a user record inside a
/// record aggregated by the Kinesis Producer Library; 0 otherwise).
/// </summary>
/// <remarks>
/// Two sentinel positions exist besides real sequence numbers: <see cref="ShardEnd"/>, written as the checkpoint of
/// a shard that was read and processed to its end, and <see cref="None"/>, the position before any record.
/// </remarks>
public readonly struct SequenceNumber : IEquatable<SequenceNumber>, IComparable<SequenceNumber>
{
    private const string ShardEndValue = "SHARD_END";

    /// <summary>Initializes a position.</summary>
    /// <param name="value">The sequence number: decimal digits only.</param>
    /// <param name="subSequence">The sub-sequence number inside an aggregated record; 0 when not aggregated.</param>
    /// <exception cref="ArgumentException"><paramref name="value"/> is empty or not all decimal digits.</exception>
    public SequenceNumber(string value, long subSequence = 0)
    {
        ArgumentException.ThrowIfNullOrEmpty(value);
        ArgumentOutOfRangeException.ThrowIfNegative(subSequence);
        if (value != ShardEndValue && !IsAllDigits(value))
        {
            throw new ArgumentException($"A sequence number must be decimal digits; got '{value}'.", nameof(value));
        }

        Value = value;
        SubSequence = subSequence;
    }

    /// <summary>The position before any record of a shard. Its <see cref="Value"/> is <see langword="null"/>.</summary>
    public static SequenceNumber None => default;

    /// <summary>The position after the last record of a closed shard (KCL's <c>SHARD_END</c>).</summary>
    public static SequenceNumber ShardEnd { get; } = new(ShardEndValue);

    /// <summary>The decimal sequence number, <c>SHARD_END</c>, or <see langword="null"/> for <see cref="None"/>.</summary>
    public string? Value { get; }

    /// <summary>The sub-sequence number (KPL aggregation); 0 when the record was not aggregated.</summary>
    public long SubSequence { get; }

    /// <summary>Whether this is <see cref="None"/>.</summary>
    [MemberNotNullWhen(false, nameof(Value))]
    public bool IsNone => Value is null;

    /// <summary>Whether this is <see cref="ShardEnd"/>.</summary>
    public bool IsShardEnd => ReferenceEquals(Value, ShardEndValue) || Value == ShardEndValue;

    /// <summary>Parses a stored position: a decimal sequence number or <c>SHARD_END</c>; null or empty gives <see cref="None"/>.</summary>
    /// <param name="value">The stored value.</param>
    /// <param name="subSequence">The stored sub-sequence number.</param>
    /// <returns>The position.</returns>
    public static SequenceNumber Parse(string? value, long subSequence = 0)
        => string.IsNullOrEmpty(value) ? None
        : value == ShardEndValue ? ShardEnd
        : new SequenceNumber(value, subSequence);

    /// <summary>Creates a position from a non-negative integer, e.g. for in-memory sources.</summary>
    /// <param name="value">The sequence number.</param>
    /// <param name="subSequence">The sub-sequence number.</param>
    /// <returns>The position.</returns>
    public static SequenceNumber FromInteger(ulong value, long subSequence = 0)
        => new(value.ToString(System.Globalization.CultureInfo.InvariantCulture), subSequence);

    /// <summary>
    /// Compares numerically: <see cref="None"/> first, then sequence numbers by value and sub-sequence, then
    /// <see cref="ShardEnd"/> last.
    /// </summary>
    /// <param name="other">The other position.</param>
    /// <returns>Negative, zero or positive, as <see cref="IComparable{T}"/> defines.</returns>
    public int CompareTo(SequenceNumber other)
    {
        int rank = Rank(), otherRank = other.Rank();
        if (rank != otherRank)
        {
            return rank.CompareTo(otherRank);
        }

        if (rank != 1)
        {
            return 0;
        }

        int byValue = CompareDecimal(Value!, other.Value!);
        return byValue != 0 ? byValue : SubSequence.CompareTo(other.SubSequence);
    }

    /// <inheritdoc/>
    public bool Equals(SequenceNumber other) => CompareTo(other) == 0;

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is SequenceNumber other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode()
        => Value is null ? 0 : HashCode.Combine(string.GetHashCode(Value.AsSpan().TrimStart('0'), StringComparison.Ordinal), SubSequence);

    /// <summary>The value, with <c>/sub-sequence</c> appended when not zero; <c>(none)</c> for <see cref="None"/>.</summary>
    /// <returns>A display string.</returns>
    public override string ToString()
        => Value is null ? "(none)" : SubSequence == 0 ? Value : string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{Value}/{SubSequence}");

    /// <summary>Equality.</summary>
    /// <param name="left">The left operand.</param>
    /// <param name="right">The right operand.</param>
    /// <returns>Whether both are the same position.</returns>
    public static bool operator ==(SequenceNumber left, SequenceNumber right) => left.Equals(right);

    /// <summary>Inequality.</summary>
    /// <param name="left">The left operand.</param>
    /// <param name="right">The right operand.</param>
    /// <returns>Whether the positions differ.</returns>
    public static bool operator !=(SequenceNumber left, SequenceNumber right) => !left.Equals(right);

    /// <summary>Ordering.</summary>
    /// <param name="left">The left operand.</param>
    /// <param name="right">The right operand.</param>
    /// <returns>Whether <paramref name="left"/> comes first.</returns>
    public static bool operator <(SequenceNumber left, SequenceNumber right) => left.CompareTo(right) < 0;

    /// <summary>Ordering.</summary>
    /// <param name="left">The left operand.</param>
    /// <param name="right">The right operand.</param>
    /// <returns>Whether <paramref name="left"/> comes after.</returns>
    public static bool operator >(SequenceNumber left, SequenceNumber right) => left.CompareTo(right) > 0;

    /// <summary>Ordering.</summary>
    /// <param name="left">The left operand.</param>
    /// <param name="right">The right operand.</param>
    /// <returns>Whether <paramref name="left"/> comes first or is equal.</returns>
    public static bool operator <=(SequenceNumber left, SequenceNumber right) => left.CompareTo(right) <= 0;

    /// <summary>Ordering.</summary>
    /// <param name="left">The left operand.</param>
    /// <param name="right">The right operand.</param>
    /// <returns>Whether <paramref name="left"/> comes after or is equal.</returns>
    public static bool operator >=(SequenceNumber left, SequenceNumber right) => left.CompareTo(right) >= 0;

    private int Rank() => Value is null ? 0 : IsShardEnd ? 2 : 1;

    // Numeric comparison of arbitrarily long decimal strings: Kinesis sequence numbers reach 128 bits and
    // DynamoDB Streams ones 40 digits, beyond UInt128, so no fixed-width parse is safe.
    private static int CompareDecimal(string left, string right)
    {
        ReadOnlySpan<char> a = left.AsSpan().TrimStart('0'), b = right.AsSpan().TrimStart('0');
        return a.Length != b.Length ? a.Length.CompareTo(b.Length) : a.SequenceCompareTo(b);
    }

    private static bool IsAllDigits(string value)
    {
        foreach (char c in value)
        {
            if (c is < '0' or > '9')
            {
                return false;
            }
        }

        return true;
    }
}
