using System.Diagnostics;

namespace StreamLanes.Engine.Tests.Telemetry;

/// <summary>Reading a producer's trace context from record attributes: W3C, X-Ray, and what is refused.</summary>
public sealed class TraceContextReaderTests
{
    private const string TraceParent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    [Fact]
    public void A_w3c_traceparent_wins_over_an_xray_header()
    {
        ActivityContext context = TraceContextReader.FromAttributes(new Dictionary<string, string>
        {
            ["traceparent"] = TraceParent,
            ["tracestate"] = "a=1",
            ["Sqs.AWSTraceHeader"] = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
        });

        Assert.Equal("0af7651916cd43dd8448eb211c80319c", context.TraceId.ToHexString());
        Assert.Equal("a=1", context.TraceState);
        Assert.True(context.IsRemote);
    }

    [Theory]
    [InlineData("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1", "5759e988bd862e3fe1be46a994272793", "53995c3f42cd8ad8", true)]
    [InlineData("Sampled=0; Parent=53995c3f42cd8ad8 ;Root=1-5759e988-bd862e3fe1be46a994272793;Lineage=a:1", "5759e988bd862e3fe1be46a994272793", "53995c3f42cd8ad8", false)]
    public void An_xray_header_becomes_w3c_ids(string header, string traceId, string spanId, bool sampled)
    {
        Assert.True(TraceContextReader.TryParseXRay(header, out ActivityContext context));
        Assert.Equal(traceId, context.TraceId.ToHexString());
        Assert.Equal(spanId, context.SpanId.ToHexString());
        Assert.Equal(sampled, context.TraceFlags.HasFlag(ActivityTraceFlags.Recorded));
    }

    [Theory]
    [InlineData("")]
    [InlineData("Root=1-5759e988-bd862e3fe1be46a994272793")]                                  // no parent
    [InlineData("Root=2-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8")]          // unknown version
    [InlineData("Root=1-5759e988-bd862e3fe1be46a99427279;Parent=53995c3f42cd8ad8")]           // short root
    [InlineData("Root=1-5759E988-BD862E3FE1BE46A994272793;Parent=53995c3f42cd8ad8")]          // not lower-case hex
    [InlineData("Root=1-00000000-000000000000000000000000;Parent=53995c3f42cd8ad8")]          // all-zero trace id
    [InlineData("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=0000000000000000")]          // all-zero span id
    [InlineData("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8\n\u001b[2J")] // injected text
    public void A_malformed_xray_header_is_no_context(string header)
    {
        Assert.False(TraceContextReader.TryParseXRay(header, out ActivityContext context));
        Assert.Equal(default, context);
    }

    [Theory]
    [InlineData("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331")]                 // too short
    [InlineData("00-00000000000000000000000000000000-b7ad6b7169203331-01")]              // all-zero trace id
    [InlineData("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra-text")]   // too long
    [InlineData("zz-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")]
    public void A_malformed_traceparent_is_no_context(string traceParent)
    {
        Assert.Equal(default, TraceContextReader.FromAttributes(new Dictionary<string, string> { ["traceparent"] = traceParent }));
    }

    [Fact]
    public void An_extractor_that_throws_or_returns_nothing_falls_back_to_the_attributes()
    {
        var record = new StreamRecord(SourceKind.Kinesis, "s", "shardId-0", new Checkpointing.SequenceNumber("1"), "k", new byte[] { 1 }, DateTimeOffset.UnixEpoch, new Dictionary<string, string> { ["traceparent"] = TraceParent });

        Assert.Equal("b7ad6b7169203331", TraceContextReader.ProducerContext(record, _ => throw new FormatException("bad envelope")).SpanId.ToHexString());
        Assert.Equal("b7ad6b7169203331", TraceContextReader.ProducerContext(record, _ => null).SpanId.ToHexString());
    }

    [Fact]
    public void A_context_is_written_back_as_a_version_00_traceparent()
    {
        Assert.True(TraceContextReader.TryParseW3C(TraceParent, null, out ActivityContext context));
        Assert.Equal(TraceParent, TraceContextReader.ToTraceParent(context));
    }
}
