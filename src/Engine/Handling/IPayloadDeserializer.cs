using System.Text;
using System.Text.Json;

namespace StreamLanes;

/// <summary>Turns a record's payload into the handler's message type.</summary>
/// <typeparam name="TMessage">The message type.</typeparam>
/// <remarks>
/// Any exception thrown here, and a <see langword="null"/> result, dead-letters the record at once as
/// non-retryable, with its raw bytes.
/// </remarks>
public interface IPayloadDeserializer<out TMessage>
{
    /// <summary>Deserializes a record's payload.</summary>
    /// <param name="record">The record.</param>
    /// <returns>The message.</returns>
    TMessage Deserialize(StreamRecord record);
}

/// <summary>The default deserializer: System.Text.Json over the UTF-8 payload.</summary>
/// <typeparam name="TMessage">The message type.</typeparam>
/// <param name="options">The serializer options; <see cref="JsonSerializerOptions.Web"/> (camelCase, case-insensitive) when <see langword="null"/>.</param>
public sealed class JsonPayloadDeserializer<TMessage>(JsonSerializerOptions? options = null) : IPayloadDeserializer<TMessage>
{
    private readonly JsonSerializerOptions _options = options ?? JsonSerializerOptions.Web;

    /// <inheritdoc/>
#pragma warning disable IL2026, IL3050 // The caller chose reflection-based JSON by choosing this deserializer; a source-generated one can be supplied instead.
    public TMessage Deserialize(StreamRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        return JsonSerializer.Deserialize<TMessage>(record.Data.Span, _options)!;
    }
#pragma warning restore IL2026, IL3050
}

internal sealed class RawMemoryDeserializer : IPayloadDeserializer<ReadOnlyMemory<byte>>
{
    public ReadOnlyMemory<byte> Deserialize(StreamRecord record) => record.Data;
}

internal sealed class ByteArrayDeserializer : IPayloadDeserializer<byte[]>
{
    public byte[] Deserialize(StreamRecord record) => record.Data.ToArray();
}

internal sealed class Utf8StringDeserializer : IPayloadDeserializer<string>
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public string Deserialize(StreamRecord record) => StrictUtf8.GetString(record.Data.Span);
}

internal sealed class RecordDeserializer : IPayloadDeserializer<StreamRecord>
{
    public StreamRecord Deserialize(StreamRecord record) => record;
}

internal static class PayloadDeserializers
{
    public static IPayloadDeserializer<TMessage> Default<TMessage>(JsonSerializerOptions? jsonOptions)
    {
        object deserializer = typeof(TMessage) switch
        {
            Type t when t == typeof(ReadOnlyMemory<byte>) => new RawMemoryDeserializer(),
            Type t when t == typeof(byte[]) => new ByteArrayDeserializer(),
            Type t when t == typeof(string) => new Utf8StringDeserializer(),
            Type t when t == typeof(StreamRecord) => new RecordDeserializer(),
            Type t when PayloadDeserializerAttribute.Create(t, jsonOptions) is { } declared => declared,
            _ => new JsonPayloadDeserializer<TMessage>(jsonOptions),
        };
        return (IPayloadDeserializer<TMessage>)deserializer;
    }
}
