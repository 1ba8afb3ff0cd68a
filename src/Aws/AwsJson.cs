using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace StreamLanes.Aws;

/// <summary>
/// AWS JSON protocols send timestamps as epoch seconds, a JSON number with a fraction (e.g. <c>1700000000.123</c>).
/// Reads numbers and numeric strings (and ISO-8601 strings, which some emulators send); writes seconds with
/// millisecond precision.
/// </summary>
internal sealed class EpochSecondsConverter : JsonConverter<DateTimeOffset>
{
    public override DateTimeOffset Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType == JsonTokenType.Number)
        {
            return FromSeconds(reader.GetDecimal());
        }

        if (reader.TokenType == JsonTokenType.String)
        {
            var text = reader.GetString();
            if (decimal.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds))
            {
                return FromSeconds(seconds);
            }

            if (DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var parsed))
            {
                return parsed;
            }
        }

        throw new JsonException($"Expected an epoch-seconds timestamp, found {reader.TokenType}.");
    }

    public override void Write(Utf8JsonWriter writer, DateTimeOffset value, JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WriteNumberValue(value.ToUnixTimeMilliseconds() / 1000m);
    }

    private static DateTimeOffset FromSeconds(decimal seconds) =>
        DateTimeOffset.FromUnixTimeMilliseconds((long)decimal.Round(seconds * 1000m, MidpointRounding.AwayFromZero));
}

/// <summary>Addresses a stream by name, or by ARN when the value is one, as the Kinesis API accepts either.</summary>
internal static class StreamIdentifier
{
    public static (string? Name, string? Arn) Of(string stream)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(stream);
        return stream.StartsWith("arn:", StringComparison.Ordinal) ? (null, stream) : (stream, null);
    }
}
