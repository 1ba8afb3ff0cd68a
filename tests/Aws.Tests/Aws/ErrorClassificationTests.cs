using System.Net;
using System.Text;

namespace StreamLanes.Aws.Tests;

public sealed class ErrorClassificationTests
{
    [Theory]
    [InlineData("ProvisionedThroughputExceededException", AwsErrorKind.Throttling)]
    [InlineData("ThrottlingException", AwsErrorKind.Throttling)]
    [InlineData("LimitExceededException", AwsErrorKind.Throttling)]
    [InlineData("RequestLimitExceeded", AwsErrorKind.Throttling)]
    [InlineData("KMSThrottlingException", AwsErrorKind.Throttling)]
    [InlineData("RequestThrottled", AwsErrorKind.Throttling)]
    [InlineData("ExpiredIteratorException", AwsErrorKind.ExpiredIterator)]
    [InlineData("TrimmedDataAccessException", AwsErrorKind.TrimmedData)]
    [InlineData("ResourceNotFoundException", AwsErrorKind.ResourceNotFound)]
    [InlineData("QueueDoesNotExist", AwsErrorKind.ResourceNotFound)]
    [InlineData("AccessDeniedException", AwsErrorKind.AccessDenied)]
    [InlineData("UnrecognizedClientException", AwsErrorKind.AccessDenied)]
    [InlineData("InvalidSignatureException", AwsErrorKind.AccessDenied)]
    [InlineData("ExpiredTokenException", AwsErrorKind.AccessDenied)]
    [InlineData("ExpiredToken", AwsErrorKind.AccessDenied)]
    [InlineData("ValidationException", AwsErrorKind.Validation)]
    [InlineData("InvalidArgumentException", AwsErrorKind.Validation)]
    [InlineData("InvalidParameterValue", AwsErrorKind.Validation)]
    [InlineData("ResourceInUseException", AwsErrorKind.ResourceInUse)]
    [InlineData("QueueNameExists", AwsErrorKind.ResourceInUse)]
    [InlineData("InternalFailure", AwsErrorKind.ServiceUnavailable)]
    [InlineData("SomethingNobodyHeardOf", AwsErrorKind.Other)]
    public void Known_codes_are_classified(string code, AwsErrorKind expected)
    {
        var status = expected == AwsErrorKind.ServiceUnavailable ? HttpStatusCode.InternalServerError : HttpStatusCode.BadRequest;
        Assert.Equal(expected, AwsErrorClassifier.Classify(code, status));
    }

    [Theory]
    [InlineData("com.amazonaws.kinesis.v20131202#ExpiredIteratorException", "ExpiredIteratorException")]
    [InlineData("com.amazonaws.sqs#QueueDoesNotExist", "QueueDoesNotExist")]
    [InlineData("ValidationException:http://internal.amazon.com/coral/com.amazon.coral.validate/", "ValidationException")]
    [InlineData("  ResourceNotFoundException ", "ResourceNotFoundException")]
    [InlineData(null, "")]
    public void Error_types_lose_their_namespace_and_link(string? raw, string expected) =>
        Assert.Equal(expected, AwsErrorClassifier.NormalizeCode(raw));

    [Fact]
    public void Kinesis_error_body_gives_code_message_and_request_id()
    {
        var body = """{"__type":"ExpiredIteratorException","message":"Iterator expired. The iterator was created at time X"}""";

        var error = AwsErrorClassifier.FromResponse(HttpStatusCode.BadRequest, null, null, "req-1", Encoding.UTF8.GetBytes(body), "Kinesis", "GetRecords");

        Assert.Equal(AwsErrorKind.ExpiredIterator, error.Kind);
        Assert.Equal("ExpiredIteratorException", error.ErrorCode);
        Assert.Equal("Iterator expired. The iterator was created at time X", error.ServiceMessage);
        Assert.Equal("req-1", error.RequestId);
        Assert.Equal("GetRecords", error.Operation);
        Assert.False(error.IsRetryable);
        Assert.Contains("Kinesis.GetRecords failed with ExpiredIteratorException (HTTP 400)", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Header_error_type_is_used_when_the_body_has_none()
    {
        var error = AwsErrorClassifier.FromResponse(
            HttpStatusCode.BadRequest,
            "ProvisionedThroughputExceededException:http://internal.amazon.com/",
            null,
            null,
            """{"Message":"Rate exceeded for shard"}"""u8,
            "Kinesis",
            "GetRecords");

        Assert.Equal(AwsErrorKind.Throttling, error.Kind);
        Assert.Equal("Rate exceeded for shard", error.ServiceMessage);
        Assert.True(error.IsRetryable);
    }

    [Fact]
    public void Sqs_namespaced_type_and_query_error_header_classify()
    {
        var error = AwsErrorClassifier.FromResponse(
            HttpStatusCode.BadRequest,
            null,
            "AWS.SimpleQueueService.NonExistentQueue;Sender",
            null,
            """{"__type":"com.amazonaws.sqs#QueueDoesNotExist","message":"The specified queue does not exist."}"""u8,
            "SQS",
            "GetQueueUrl");

        Assert.Equal(AwsErrorKind.ResourceNotFound, error.Kind);
        Assert.Equal("QueueDoesNotExist", error.ErrorCode);
    }

    [Fact]
    public void Legacy_sqs_query_code_classifies_when_the_json_type_is_unknown()
    {
        var error = AwsErrorClassifier.FromResponse(
            HttpStatusCode.BadRequest,
            null,
            "AWS.SimpleQueueService.NonExistentQueue;Sender",
            null,
            """{"__type":"com.amazonaws.sqs#SomeNewName"}"""u8,
            "SQS",
            "GetQueueUrl");

        Assert.Equal(AwsErrorKind.ResourceNotFound, error.Kind);
    }

    [Theory]
    [InlineData(503, AwsErrorKind.ServiceUnavailable)]
    [InlineData(500, AwsErrorKind.ServiceUnavailable)]
    [InlineData(429, AwsErrorKind.Throttling)]
    [InlineData(403, AwsErrorKind.AccessDenied)]
    [InlineData(400, AwsErrorKind.Other)]
    public void Non_json_bodies_fall_back_on_the_status_code(int status, AwsErrorKind expected)
    {
        var error = AwsErrorClassifier.FromResponse(
            (HttpStatusCode)status, null, null, null, "<html>Bad gateway</html>"u8, "Kinesis", "PutRecords");

        Assert.Equal(expected, error.Kind);
        Assert.Equal($"Http{status}", error.ErrorCode);
    }
}
