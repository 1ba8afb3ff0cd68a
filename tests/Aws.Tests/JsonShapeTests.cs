using System.Text;
using System.Text.Json;

namespace StreamLanes.Aws.Tests;

public sealed class JsonShapeTests
{
    [Fact]
    public void GetRecords_response_decodes_data_timestamps_and_child_shards()
    {
        var json = """
            {
              "Records": [
                {"SequenceNumber":"49590338271490256608559692538361571095921575989136588898","ApproximateArrivalTimestamp":1.700000000123E9,
                 "Data":"aGVsbG8=","PartitionKey":"order-1","EncryptionType":"NONE"}
              ],
              "MillisBehindLatest": 2100,
              "ChildShards": [
                {"ShardId":"shardId-000000000002","ParentShards":["shardId-000000000000"],
                 "HashKeyRange":{"StartingHashKey":"0","EndingHashKey":"170141183460469231731687303715884105727"}}
              ]
            }
            """;

        var response = JsonSerializer.Deserialize(json, KinesisJsonContext.Default.KinesisGetRecordsResponse)!;

        var record = Assert.Single(response.Records);
        Assert.Equal("hello", Encoding.UTF8.GetString(record.Data.Span));
        Assert.Equal("order-1", record.PartitionKey);
        Assert.Equal(DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_123), record.ApproximateArrivalTimestamp);
        Assert.Null(response.NextShardIterator);
        Assert.Equal(2100, response.MillisBehindLatest);
        var child = Assert.Single(response.ChildShards!);
        Assert.Equal(["shardId-000000000000"], child.ParentShards);
    }

    [Fact]
    public void GetShardIterator_request_uses_the_api_names_and_epoch_seconds()
    {
        var request = new KinesisGetShardIteratorRequest(
            "orders", null, "shardId-000000000001", KinesisShardIteratorType.AtTimestamp, null,
            DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_250));

        var json = JsonSerializer.Serialize(request, KinesisJsonContext.Default.KinesisGetShardIteratorRequest);

        Assert.Equal(
            """{"StreamName":"orders","ShardId":"shardId-000000000001","ShardIteratorType":"AT_TIMESTAMP","Timestamp":1700000000.25}""",
            json);
    }

    [Theory]
    [InlineData(nameof(KinesisShardIteratorType.TrimHorizon), "TRIM_HORIZON")]
    [InlineData(nameof(KinesisShardIteratorType.Latest), "LATEST")]
    [InlineData(nameof(KinesisShardIteratorType.AtSequenceNumber), "AT_SEQUENCE_NUMBER")]
    [InlineData(nameof(KinesisShardIteratorType.AfterSequenceNumber), "AFTER_SEQUENCE_NUMBER")]
    [InlineData(nameof(KinesisShardIteratorType.AtTimestamp), "AT_TIMESTAMP")]
    public void Iterator_types_use_the_api_spelling(string name, string expected)
    {
        KinesisShardIteratorType type = Enum.Parse<KinesisShardIteratorType>(name);
        var json = JsonSerializer.Serialize(
            new KinesisGetShardIteratorRequest(null, "arn:aws:kinesis:us-east-1:000000000000:stream/s", "s-1", type, null, null),
            KinesisJsonContext.Default.KinesisGetShardIteratorRequest);

        Assert.Contains($"\"ShardIteratorType\":\"{expected}\"", json, StringComparison.Ordinal);
        Assert.Contains("\"StreamARN\":\"arn:aws:kinesis:", json, StringComparison.Ordinal);
    }

    [Fact]
    public void PutRecords_request_sends_data_as_base64()
    {
        var request = new KinesisPutRecordsRequest("orders", null,
        [
            new KinesisPutRecordsEntry { Data = "hi"u8.ToArray(), PartitionKey = "k" },
        ]);

        var json = JsonSerializer.Serialize(request, KinesisJsonContext.Default.KinesisPutRecordsRequest);

        Assert.Equal("""{"StreamName":"orders","Records":[{"Data":"aGk=","PartitionKey":"k"}]}""", json);
    }

    [Fact]
    public void Later_ListShards_pages_carry_only_the_token()
    {
        var json = JsonSerializer.Serialize(
            new KinesisListShardsRequest { NextToken = "token", MaxResults = 1 },
            KinesisJsonContext.Default.KinesisListShardsRequest);

        Assert.Equal("""{"NextToken":"token","MaxResults":1}""", json);
    }

    [Fact]
    public void DynamoDb_stream_records_keep_attribute_values_as_json()
    {
        var json = """
            {"Records":[{"eventID":"e1","eventName":"MODIFY","eventVersion":"1.1","eventSource":"aws:dynamodb","awsRegion":"us-east-1",
              "dynamodb":{"ApproximateCreationDateTime":1700000000,"Keys":{"pk":{"S":"order-1"}},
                          "NewImage":{"pk":{"S":"order-1"},"n":{"N":"2"}},"OldImage":{"pk":{"S":"order-1"},"n":{"N":"1"}},
                          "SequenceNumber":"000000000000000000123","SizeBytes":42,"StreamViewType":"NEW_AND_OLD_IMAGES"},
              "userIdentity":{"PrincipalId":"dynamodb.amazonaws.com","Type":"Service"}}],
             "NextShardIterator":"next"}
            """;

        var response = JsonSerializer.Deserialize(json, DynamoDbStreamsJsonContext.Default.DynamoDbGetRecordsResponse)!;

        var record = Assert.Single(response.Records);
        Assert.Equal("e1", record.EventId);
        Assert.Equal("MODIFY", record.EventName);
        Assert.Equal("order-1", record.Dynamodb.Keys["pk"].GetProperty("S").GetString());
        Assert.Equal("2", record.Dynamodb.NewImage!["n"].GetProperty("N").GetString());
        Assert.Equal("1", record.Dynamodb.OldImage!["n"].GetProperty("N").GetString());
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(1_700_000_000), record.Dynamodb.ApproximateCreationDateTime);
        Assert.Equal(42, record.Dynamodb.SizeBytes);
        Assert.Equal("Service", record.UserIdentity!.Type);
        Assert.Equal("next", response.NextShardIterator);
    }

    [Fact]
    public void Absent_fields_keep_their_non_null_defaults()
    {
        // The source generator sets every init-only property, passing null for absent ones; the models coerce it back.
        Assert.Empty(JsonSerializer.Deserialize("{}", KinesisJsonContext.Default.KinesisGetRecordsResponse)!.Records);
        var shard = Assert.Single(JsonSerializer.Deserialize("""{"Shards":[{}]}""", KinesisJsonContext.Default.KinesisListShardsResponse)!.Shards);
        Assert.Equal(string.Empty, shard.HashKeyRange.StartingHashKey);
        Assert.False(shard.IsClosed);
        Assert.Empty(JsonSerializer.Deserialize("""{"Records":[{"dynamodb":{}}]}""", DynamoDbStreamsJsonContext.Default.DynamoDbGetRecordsResponse)!
            .Records[0].Dynamodb.Keys);
    }
}
