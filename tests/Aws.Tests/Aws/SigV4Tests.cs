using System.Security.Cryptography;
using System.Text;
using Amazon;
using Amazon.Runtime;
using Amazon.Runtime.Signing;

namespace StreamLanes.Aws.Tests;

public sealed class SigV4Tests
{
    // AWS's documented SigV4 example "GET Object" (Amazon S3 API reference, "Examples: Signature calculations in
    // AWS Signature Version 4", header-based authentication): its inputs and its published signature.
    private const string DocExampleAccessKey = "AKIAIOSFODNN7EXAMPLE";
    private const string DocExampleSecretKey = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    private const string DocExampleSignature = "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41";

    // The AWS SigV4 test suite's credentials and time (get-vanilla and the transport tests below).
    private const string SuiteAccessKey = "AKIDEXAMPLE";
    private const string SuiteSecretKey = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    private static readonly DateTimeOffset SuiteTime = new(2015, 8, 30, 12, 36, 0, TimeSpan.Zero);

    [Fact]
    public void Signer_reproduces_the_documented_GetObject_example()
    {
        var request = new AWSSigningRequest
        {
            HttpMethod = HttpMethod.Get,
            RequestUri = new Uri("https://examplebucket.s3.amazonaws.com/test.txt"),
        };
        request.Headers["Range"] = "bytes=0-9";

        var signed = AWSSigV4Signer.Sign(request, new AWSSigV4Parameters
        {
            Credentials = new BasicAWSCredentials(DocExampleAccessKey, DocExampleSecretKey),
            Region = RegionEndpoint.USEast1,
            Service = "s3",
            SignedAt = new DateTime(2013, 5, 24, 0, 0, 0, DateTimeKind.Utc),
        });

        Assert.Equal(
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, " +
            "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, " +
            $"Signature={DocExampleSignature}",
            signed.Headers["Authorization"]);
        Assert.Equal("20130524T000000Z", signed.Headers["X-Amz-Date"]);
    }

    [Fact]
    public void Reference_implementation_reproduces_the_published_signatures()
    {
        // The reference below is what the transport tests check the wire against, so it is pinned to AWS's vectors first.
        var emptyHash = Sha256Hex([]);
        var docExample = SigV4Reference.Signature(
            DocExampleSecretKey,
            "20130524T000000Z",
            "us-east-1",
            "s3",
            "GET",
            "/test.txt",
            new SortedDictionary<string, string>(StringComparer.Ordinal)
            {
                ["host"] = "examplebucket.s3.amazonaws.com",
                ["range"] = "bytes=0-9",
                ["x-amz-content-sha256"] = emptyHash,
                ["x-amz-date"] = "20130524T000000Z",
            },
            emptyHash);
        Assert.Equal(DocExampleSignature, docExample);

        // SigV4 test suite, get-vanilla.
        var getVanilla = SigV4Reference.Signature(
            SuiteSecretKey,
            "20150830T123600Z",
            "us-east-1",
            "service",
            "GET",
            "/",
            new SortedDictionary<string, string>(StringComparer.Ordinal)
            {
                ["host"] = "example.amazonaws.com",
                ["x-amz-date"] = "20150830T123600Z",
            },
            emptyHash);
        Assert.Equal("5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31", getVanilla);
    }

    [Theory]
    [InlineData("kinesis")]
    [InlineData("dynamodbstreams")]
    public async Task Transport_sends_a_correctly_signed_json_post(string service)
    {
        var handler = new ScriptedHandler();
        handler.Fallback = (_, _) => Task.FromResult(ScriptedHandler.Json(System.Net.HttpStatusCode.OK, """{"Shards":[],"StreamDescription":{},"QueueUrl":"q"}"""));
        using var http = new HttpClient(handler);
        var options = new AwsClientOptions
        {
            Region = "eu-west-1",
            ServiceUrl = new Uri("http://127.0.0.1:4568/"),
            Credentials = new BasicAWSCredentials(SuiteAccessKey, SuiteSecretKey),
        };
        var clock = new RecordingTimeProvider(SuiteTime);

        string expectedTarget, expectedContentType, signingName;
        switch (service)
        {
            case "kinesis":
                using (var client = new KinesisClient(options, http, timeProvider: clock))
                {
                    await client.ListShardsAsync(new KinesisListShardsRequest { StreamName = "orders", MaxResults = 5 });
                }

                (expectedTarget, expectedContentType, signingName) = ("Kinesis_20131202.ListShards", "application/x-amz-json-1.1", "kinesis");
                break;
            case "dynamodbstreams":
                using (var client = new DynamoDbStreamsClient(options, http, timeProvider: clock))
                {
                    await client.DescribeStreamAsync("arn:aws:dynamodb:eu-west-1:000000000000:table/t/stream/x");
                }

                (expectedTarget, expectedContentType, signingName) = ("DynamoDBStreams_20120810.DescribeStream", "application/x-amz-json-1.0", "dynamodb");
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(service), service, "SQS is signed by AWSSDK.SQS, not this transport.");
        }

        var sent = Assert.Single(handler.Requests);
        Assert.Equal(HttpMethod.Post, sent.Method);
        Assert.Equal(new Uri("http://127.0.0.1:4568/"), sent.Uri);
        Assert.Equal(expectedContentType, sent.Headers["Content-Type"]);
        Assert.Equal(expectedTarget, sent.Headers["X-Amz-Target"]);
        Assert.Equal("20150830T123600Z", sent.Headers["X-Amz-Date"]);
        var payloadHash = Sha256Hex(sent.Body);
        Assert.Equal(payloadHash, sent.Headers["X-Amz-Content-SHA256"]);

        var expectedSignature = SigV4Reference.Signature(
            SuiteSecretKey,
            "20150830T123600Z",
            "eu-west-1",
            signingName,
            "POST",
            "/",
            new SortedDictionary<string, string>(StringComparer.Ordinal)
            {
                ["content-type"] = expectedContentType,
                ["host"] = sent.Uri.Authority,
                ["x-amz-content-sha256"] = payloadHash,
                ["x-amz-date"] = "20150830T123600Z",
                ["x-amz-target"] = expectedTarget,
            },
            payloadHash);
        Assert.Equal(
            $"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/eu-west-1/{signingName}/aws4_request, " +
            "SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date;x-amz-target, " +
            $"Signature={expectedSignature}",
            sent.Headers["Authorization"]);
    }

    [Fact]
    public async Task Session_credentials_send_and_sign_the_security_token()
    {
        var handler = new ScriptedHandler();
        using var http = new HttpClient(handler);
        var options = new AwsClientOptions
        {
            Region = "us-east-1",
            KinesisServiceUrl = new Uri("http://127.0.0.1:4568/"),
            Credentials = new SessionAWSCredentials(SuiteAccessKey, SuiteSecretKey, "session-token-value"),
        };
        using var client = new KinesisClient(options, http, timeProvider: new RecordingTimeProvider(SuiteTime));

        await client.DeleteStreamAsync("orders");

        var sent = Assert.Single(handler.Requests);
        Assert.Equal("session-token-value", sent.Headers["X-Amz-Security-Token"]);
        Assert.Contains("x-amz-security-token", sent.Headers["Authorization"], StringComparison.Ordinal);
    }

    private static string Sha256Hex(byte[] data) => Convert.ToHexStringLower(SHA256.HashData(data));

    /// <summary>SigV4 written out from the specification, for requests without a query string.</summary>
    private static class SigV4Reference
    {
        public static string Signature(
            string secretKey,
            string amzDate,
            string region,
            string service,
            string method,
            string path,
            SortedDictionary<string, string> headers,
            string payloadHash)
        {
            var canonicalHeaders = string.Concat(headers.Select(h => $"{h.Key}:{h.Value.Trim()}\n"));
            var signedHeaders = string.Join(';', headers.Keys);
            var canonicalRequest = $"{method}\n{path}\n\n{canonicalHeaders}\n{signedHeaders}\n{payloadHash}";
            var date = amzDate[..8];
            var scope = $"{date}/{region}/{service}/aws4_request";
            var stringToSign = $"AWS4-HMAC-SHA256\n{amzDate}\n{scope}\n{Sha256Hex(Encoding.UTF8.GetBytes(canonicalRequest))}";

            var key = Hmac(Encoding.UTF8.GetBytes("AWS4" + secretKey), date);
            key = Hmac(key, region);
            key = Hmac(key, service);
            key = Hmac(key, "aws4_request");
            return Convert.ToHexStringLower(Hmac(key, stringToSign));
        }

        private static byte[] Hmac(byte[] key, string data) => HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(data));
    }
}
