using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using StreamLanes.Aws;

namespace StreamLanes.DynamoDbStreams;

/// <summary>
/// One change of a DynamoDB table's item, as read from its stream. Attribute values stay in DynamoDB JSON
/// (e.g. <c>{"S":"abc"}</c>); <see cref="DynamoDbChange{TItem}"/> maps the images to a type of your own. A handler
/// receives it by implementing <c>IStreamHandler&lt;DynamoDbChange&gt;</c>.
/// </summary>
[PayloadDeserializer(typeof(DynamoDbChangeDeserializer))]
public class DynamoDbChange
{
    private static readonly IReadOnlyDictionary<string, JsonElement> NoAttributes = new Dictionary<string, JsonElement>();

    /// <summary>Initializes a change from a stream record.</summary>
    /// <param name="record">The record, as DynamoDB Streams returned it.</param>
    internal DynamoDbChange(DynamoDbChangeRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        EventId = record.EventId;
        EventName = record.EventName;
        Keys = record.Dynamodb.Keys;
        NewImage = record.Dynamodb.NewImage;
        OldImage = record.Dynamodb.OldImage;
        SequenceNumber = record.Dynamodb.SequenceNumber;
        ApproximateCreationDateTime = record.Dynamodb.ApproximateCreationDateTime;
        UserIdentity = record.UserIdentity;
    }

    /// <summary>The record's unique id.</summary>
    public string EventId { get; }

    /// <summary><c>INSERT</c>, <c>MODIFY</c> or <c>REMOVE</c>.</summary>
    public string EventName { get; }

    /// <summary>The item's primary key attributes (hash, and range if any), in DynamoDB JSON.</summary>
    public IReadOnlyDictionary<string, JsonElement> Keys { get; }

    /// <summary>The item after the change, in DynamoDB JSON; <see langword="null"/> for a removal or a stream without new images.</summary>
    public IReadOnlyDictionary<string, JsonElement>? NewImage { get; }

    /// <summary>The item before the change, in DynamoDB JSON; <see langword="null"/> for an insertion or a stream without old images.</summary>
    public IReadOnlyDictionary<string, JsonElement>? OldImage { get; }

    /// <summary>The record's sequence number in its shard (decimal digits).</summary>
    public string SequenceNumber { get; }

    /// <summary>When the change was made, approximately (to the second).</summary>
    public DateTimeOffset? ApproximateCreationDateTime { get; }

    /// <summary>Who made the change when it was a service (e.g. TTL deletions); <see langword="null"/> otherwise.</summary>
    public DynamoDbUserIdentity? UserIdentity { get; }

    /// <summary>Whether the change inserted the item.</summary>
    public bool IsInsert => EventName == "INSERT";

    /// <summary>Whether the change modified the item.</summary>
    public bool IsModify => EventName == "MODIFY";

    /// <summary>Whether the change removed the item.</summary>
    public bool IsRemove => EventName == "REMOVE";

    /// <summary>Reads a change from a DynamoDB Streams record's payload.</summary>
    /// <param name="record">A record read by the DynamoDB Streams source.</param>
    /// <returns>The change.</returns>
    public static DynamoDbChange From(StreamRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        return new DynamoDbChange(DynamoDbStreamsJson.Deserialize(record.Data.Span));
    }

    /// <summary>
    /// The partition key the engine orders changes by: the item's key attributes sorted by name, as
    /// <c>name=value</c> joined by <c>|</c> (e.g. <c>pk=order-1|sk=42</c>); changes to one item share it.
    /// </summary>
    /// <param name="keys">The item's key attributes in DynamoDB JSON.</param>
    /// <returns>The partition key.</returns>
    public static string PartitionKeyOf(IReadOnlyDictionary<string, JsonElement> keys)
    {
        ArgumentNullException.ThrowIfNull(keys);
        if (keys.Count == 1)
        {
            KeyValuePair<string, JsonElement> only = keys.First();
            return $"{only.Key}={ScalarText(only.Value)}";
        }

        return string.Join('|', keys.OrderBy(static key => key.Key, StringComparer.Ordinal).Select(static key => $"{key.Key}={ScalarText(key.Value)}"));
    }

    /// <summary>Converts DynamoDB JSON attributes (<c>{"name":{"S":"x"}}</c>) to plain JSON (<c>{"name":"x"}</c>).</summary>
    /// <param name="attributes">The attributes in DynamoDB JSON.</param>
    /// <returns>A JSON object.</returns>
    public static JsonObject ToPlainJson(IReadOnlyDictionary<string, JsonElement> attributes)
    {
        ArgumentNullException.ThrowIfNull(attributes);
        var result = new JsonObject();
        foreach ((string name, JsonElement value) in attributes)
        {
            result[name] = ToPlainNode(value);
        }

        return result;
    }

    private static string ScalarText(JsonElement value)
    {
        // Key attributes are S, N or B: one typed string each.
        foreach (JsonProperty typed in value.EnumerateObject())
        {
            return typed.Value.ValueKind == JsonValueKind.String ? typed.Value.GetString()! : typed.Value.GetRawText();
        }

        return value.GetRawText();
    }

    private static JsonNode? ToPlainNode(JsonElement value)
    {
        if (value.ValueKind != JsonValueKind.Object)
        {
            throw new JsonException($"A DynamoDB attribute value must be an object like {{\"S\":\"x\"}}; it was {value.ValueKind}.");
        }

        foreach (JsonProperty typed in value.EnumerateObject())
        {
            JsonElement inner = typed.Value;
            return typed.Name switch
            {
                "S" or "B" => JsonValue.Create(inner.GetString()),
                "N" => JsonNode.Parse(NormalizeNumber(inner.GetString()!)),
                "BOOL" => JsonValue.Create(inner.GetBoolean()),
                "NULL" => null,
                "M" => ToPlainJson(inner.EnumerateObject().ToDictionary(static p => p.Name, static p => p.Value, StringComparer.Ordinal)),
                "L" => new JsonArray([.. inner.EnumerateArray().Select(ToPlainNode)]),
                "SS" or "BS" => new JsonArray([.. inner.EnumerateArray().Select(static item => (JsonNode?)JsonValue.Create(item.GetString()))]),
                "NS" => new JsonArray([.. inner.EnumerateArray().Select(static item => JsonNode.Parse(NormalizeNumber(item.GetString()!)))]),
                _ => throw new JsonException($"Unknown DynamoDB attribute type '{typed.Name}'."),
            };
        }

        throw new JsonException("A DynamoDB attribute value must name its type, e.g. {\"S\":\"x\"}.");
    }

    // DynamoDB numbers are decimal strings, sometimes with a leading '+' or '.' that JSON does not allow.
    private static string NormalizeNumber(string number)
        => decimal.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out decimal value)
            ? value.ToString(CultureInfo.InvariantCulture)
            : double.Parse(number, NumberStyles.Float, CultureInfo.InvariantCulture).ToString("R", CultureInfo.InvariantCulture);
}

/// <summary>
/// A <see cref="DynamoDbChange"/> with its images mapped to <typeparamref name="TItem"/>: DynamoDB JSON is turned into
/// plain JSON (S and B as strings, N as numbers, M as objects, L and sets as arrays) and deserialized with
/// System.Text.Json (the consumer's JSON options; <see cref="JsonSerializerOptions.Web"/> by default). A handler
/// receives it by implementing <c>IStreamHandler&lt;DynamoDbChange&lt;TItem&gt;&gt;</c>.
/// </summary>
/// <typeparam name="TItem">The item type.</typeparam>
[PayloadDeserializer(typeof(DynamoDbChangeDeserializer<>))]
public sealed class DynamoDbChange<TItem> : DynamoDbChange
{
    /// <summary>Initializes a typed change.</summary>
    /// <param name="record">The record, as DynamoDB Streams returned it.</param>
    /// <param name="options">The JSON options the images are deserialized with; <see cref="JsonSerializerOptions.Web"/> when <see langword="null"/>.</param>
#pragma warning disable IL2026, IL3050 // Reflection-based JSON, as with the consumer's default deserializer.
    internal DynamoDbChange(DynamoDbChangeRecord record, JsonSerializerOptions? options = null)
        : base(record)
    {
        options ??= JsonSerializerOptions.Web;
        NewItem = NewImage is null ? default : ToPlainJson(NewImage).Deserialize<TItem>(options);
        OldItem = OldImage is null ? default : ToPlainJson(OldImage).Deserialize<TItem>(options);
    }
#pragma warning restore IL2026, IL3050

    /// <summary>The item after the change; <see langword="default"/> when there is no new image.</summary>
    public TItem? NewItem { get; }

    /// <summary>The item before the change; <see langword="default"/> when there is no old image.</summary>
    public TItem? OldItem { get; }
}

/// <summary>Reads a DynamoDB Streams payload as a <see cref="DynamoDbChange"/>.</summary>
internal sealed class DynamoDbChangeDeserializer : IPayloadDeserializer<DynamoDbChange>
{
    public DynamoDbChange Deserialize(StreamRecord record) => DynamoDbChange.From(record);
}

/// <summary>Reads a DynamoDB Streams payload as a <see cref="DynamoDbChange{TItem}"/>.</summary>
internal sealed class DynamoDbChangeDeserializer<TItem>(JsonSerializerOptions? options) : IPayloadDeserializer<DynamoDbChange<TItem>>
{
    public DynamoDbChange<TItem> Deserialize(StreamRecord record)
        => new(DynamoDbStreamsJson.Deserialize(record.Data.Span), options);
}
