using System.Text;
using StreamLanes.Aws;
using StreamLanes.Checkpointing;

namespace StreamLanes.Engine.Tests.Sources.DynamoDbStreams;

public sealed class DynamoDbChangeTests
{
    private const string ModifyJson = """
        {"eventID":"e-1","eventName":"MODIFY","eventVersion":"1.1","eventSource":"aws:dynamodb","awsRegion":"us-east-1",
         "dynamodb":{"ApproximateCreationDateTime":1700000000,
           "Keys":{"sk":{"N":"7"},"pk":{"S":"order-1"}},
           "NewImage":{"pk":{"S":"order-1"},"sk":{"N":"7"},"total":{"N":"12.50"},"paid":{"BOOL":true},"note":{"NULL":true},
                       "lines":{"L":[{"M":{"sku":{"S":"x"},"qty":{"N":"2"}}}]},"tags":{"SS":["a","b"]},"sizes":{"NS":["1","2"]},
                       "blob":{"B":"AAEC"}},
           "OldImage":{"pk":{"S":"order-1"},"sk":{"N":"7"},"total":{"N":"10"},"paid":{"BOOL":false}},
           "SequenceNumber":"4200000000000001","SizeBytes":120,"StreamViewType":"NEW_AND_OLD_IMAGES"}}
        """;

    private static StreamRecord Record(string json)
    {
        DynamoDbChangeRecord change = DynamoDbStreamsJson.Deserialize(Encoding.UTF8.GetBytes(json));
        return new StreamRecord(SourceKind.DynamoDbStreams, "orders", "shard-1", new SequenceNumber(change.Dynamodb.SequenceNumber),
            DynamoDbChange.PartitionKeyOf(change.Dynamodb.Keys), DynamoDbStreamsJson.Serialize(change), DateTimeOffset.UnixEpoch);
    }

    public sealed record Line(string Sku, int Qty);

    public sealed record Order(string Pk, int Sk, decimal Total, bool Paid, string? Note, Line[]? Lines, string[]? Tags, int[]? Sizes, byte[]? Blob);

    [Fact]
    public void The_partition_key_is_the_items_primary_key_sorted_by_attribute_name()
    {
        StreamRecord record = Record(ModifyJson);
        Assert.Equal("pk=order-1|sk=7", record.PartitionKey);
    }

    [Fact]
    public void The_change_keeps_event_name_keys_both_images_and_the_sequence_number()
    {
        DynamoDbChange change = DynamoDbChange.From(Record(ModifyJson));
        Assert.Equal("MODIFY", change.EventName);
        Assert.True(change.IsModify);
        Assert.Equal("e-1", change.EventId);
        Assert.Equal("order-1", change.Keys["pk"].GetProperty("S").GetString());
        Assert.Equal("12.50", change.NewImage!["total"].GetProperty("N").GetString());
        Assert.Equal("10", change.OldImage!["total"].GetProperty("N").GetString());
        Assert.Equal("4200000000000001", change.SequenceNumber);
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(1700000000), change.ApproximateCreationDateTime);
    }

    [Fact]
    public void The_payload_round_trips_the_stream_record_so_a_dead_letter_keeps_the_images()
    {
        StreamRecord record = Record(ModifyJson);
        DynamoDbChangeRecord again = DynamoDbStreamsJson.Deserialize(record.Data.Span);
        Assert.Equal(record.Data.ToArray(), DynamoDbStreamsJson.Serialize(again));
        Assert.Contains("\"OldImage\"", Encoding.UTF8.GetString(record.Data.Span));
        Assert.Contains("\"eventName\":\"MODIFY\"", Encoding.UTF8.GetString(record.Data.Span));
    }

    [Fact]
    public void The_typed_view_maps_every_attribute_type_of_both_images()
    {
        var change = new DynamoDbChange<Order>(DynamoDbStreamsJson.Deserialize(Record(ModifyJson).Data.Span));
        Order order = change.NewItem!;
        Assert.Equal("order-1", order.Pk);
        Assert.Equal(7, order.Sk);
        Assert.Equal(12.50m, order.Total);
        Assert.True(order.Paid);
        Assert.Null(order.Note);
        Assert.Equal([new Line("x", 2)], order.Lines!);
        Assert.Equal(["a", "b"], order.Tags!);
        Assert.Equal([1, 2], order.Sizes!);
        Assert.Equal([0, 1, 2], order.Blob!);
        Assert.False(change.OldItem!.Paid);
        Assert.Equal(10m, change.OldItem.Total);
    }

    [Fact]
    public void A_removal_has_no_new_item_and_an_insert_no_old_item()
    {
        const string remove = """{"eventID":"e-2","eventName":"REMOVE","dynamodb":{"Keys":{"pk":{"S":"a"},"sk":{"N":"1"}},"OldImage":{"pk":{"S":"a"},"sk":{"N":"1"},"total":{"N":"3"},"paid":{"BOOL":true}},"SequenceNumber":"5"}}""";
        var change = new DynamoDbChange<Order>(DynamoDbStreamsJson.Deserialize(Encoding.UTF8.GetBytes(remove)));
        Assert.True(change.IsRemove);
        Assert.Null(change.NewItem);
        Assert.Equal(3m, change.OldItem!.Total);
    }

    [Fact]
    public void The_default_deserializer_of_a_consumer_serves_both_views()
    {
        StreamRecord record = Record(ModifyJson);
        Assert.Equal("MODIFY", PayloadDeserializers.Default<DynamoDbChange>(null).Deserialize(record).EventName);
        Assert.Equal(12.50m, PayloadDeserializers.Default<DynamoDbChange<Order>>(null).Deserialize(record).NewItem!.Total);
    }
}
