using System.Text.Json;
using System.Text.Json.Serialization;

namespace StreamLanes.Sinks;

/// <summary>Reads and writes <see cref="DeadLetterEnvelope"/> as JSON (camelCase, payload in base64).</summary>
public static class DeadLetterEnvelopeSerializer
{
    /// <summary>Serializes an envelope to UTF-8 JSON on one line.</summary>
    /// <param name="envelope">The envelope.</param>
    /// <returns>The JSON bytes.</returns>
    public static byte[] Serialize(DeadLetterEnvelope envelope)
        => JsonSerializer.SerializeToUtf8Bytes(envelope, DeadLetterJsonContext.Default.DeadLetterEnvelope);

    /// <summary>Deserializes an envelope.</summary>
    /// <param name="json">UTF-8 JSON.</param>
    /// <returns>The envelope.</returns>
    /// <exception cref="JsonException">The JSON is not an envelope of a version this library reads.</exception>
    public static DeadLetterEnvelope Deserialize(ReadOnlySpan<byte> json)
    {
        DeadLetterEnvelope envelope = JsonSerializer.Deserialize(json, DeadLetterJsonContext.Default.DeadLetterEnvelope)
            ?? throw new JsonException("A dead-letter envelope cannot be null.");
        if (envelope.Version is < 1 or > DeadLetterEnvelope.CurrentVersion)
        {
            throw new JsonException($"Dead-letter envelope version {envelope.Version} is not supported; this library reads versions 1 to {DeadLetterEnvelope.CurrentVersion}.");
        }

        return envelope;
    }
}

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    RespectRequiredConstructorParameters = true)]
[JsonSerializable(typeof(DeadLetterEnvelope))]
internal sealed partial class DeadLetterJsonContext : JsonSerializerContext;
