using System.Text.Json;
using System.Text.Json.Serialization;

namespace StreamLanes.Sinks;

/// <summary>
/// Writes a <see cref="SourceKind"/> by name, as envelopes always stored it (the field was a string before it was typed).
/// Reads names in any case and numbers; a name this library does not know reads as <see cref="SourceKind.InMemory"/>,
/// the kind the replayer assumed for such envelopes, so an envelope written by a newer version still reads.
/// </summary>
internal sealed class SourceKindJsonConverter : JsonConverter<SourceKind>
{
    public override SourceKind Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType == JsonTokenType.Number && reader.TryGetInt32(out int number) && Enum.IsDefined((SourceKind)number))
        {
            return (SourceKind)number;
        }

        if (reader.TokenType == JsonTokenType.String)
        {
            string? name = reader.GetString();
            return Enum.TryParse(name, ignoreCase: true, out SourceKind kind) && Enum.IsDefined(kind) ? kind : SourceKind.InMemory;
        }

        throw new JsonException($"Expected a source kind name, found {reader.TokenType}.");
    }

    public override void Write(Utf8JsonWriter writer, SourceKind value, JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WriteStringValue(value.ToString());
    }
}
