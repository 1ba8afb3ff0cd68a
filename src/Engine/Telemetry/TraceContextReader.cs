using System.Diagnostics;
using System.Globalization;

namespace StreamLanes;

/// <summary>
/// Reads the producer's trace context a record carries: W3C <c>traceparent</c> / <c>tracestate</c> attributes (SQS
/// message attributes), SQS's <c>AWSTraceHeader</c> system attribute (X-Ray format, converted to W3C ids) or what the
/// consumer's extractor returns for payload envelopes (Kinesis, DynamoDB Streams).
/// </summary>
internal static class TraceContextReader
{
    /// <summary>The W3C Trace Context attribute names a record carries them under (lower case, as the W3C headers).</summary>
    public const string TraceParentAttribute = "traceparent";

    /// <summary>The W3C <c>tracestate</c> attribute.</summary>
    public const string TraceStateAttribute = "tracestate";

    /// <summary>The SQS system attribute holding an X-Ray trace header, as the SQS source names system attributes (<c>Sqs.</c> prefix).</summary>
    public const string AwsTraceHeaderAttribute = "Sqs.AWSTraceHeader";

    // A W3C traceparent is 55 characters; a longer attribute is not one, and is not parsed at all.
    private const int MaxTraceParentLength = 55;
    private const int MaxTraceStateLength = 512;
    private const int MaxAwsTraceHeaderLength = 256;

    /// <summary>The producer's context of <paramref name="record"/>: the extractor's if there is one, else its attributes'.</summary>
    /// <returns>The context, or <see langword="default"/> when the record carries none (or a malformed one).</returns>
    public static ActivityContext ProducerContext(StreamRecord record, Func<StreamRecord, ActivityContext?>? extractor)
    {
        if (extractor is not null)
        {
            try
            {
                if (extractor(record) is ActivityContext extracted && extracted != default)
                {
                    return extracted;
                }
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                // A tracing aid must never fail a record: an extractor that throws on one payload means "no context".
            }
        }

        return FromAttributes(record.Attributes);
    }

    /// <summary>The context in W3C attributes, else in an X-Ray <c>AWSTraceHeader</c>.</summary>
    public static ActivityContext FromAttributes(IReadOnlyDictionary<string, string> attributes)
    {
        if (attributes.Count == 0)
        {
            return default;
        }

        if (attributes.TryGetValue(TraceParentAttribute, out string? parent)
            && TryParseW3C(parent, attributes.GetValueOrDefault(TraceStateAttribute), out ActivityContext w3c))
        {
            return w3c;
        }

        return attributes.TryGetValue(AwsTraceHeaderAttribute, out string? xray) && TryParseXRay(xray, out ActivityContext fromXRay)
            ? fromXRay
            : default;
    }

    /// <summary>Parses a W3C <c>traceparent</c> (and <c>tracestate</c>); the context is remote.</summary>
    public static bool TryParseW3C(string? traceParent, string? traceState, out ActivityContext context)
    {
        context = default;
        if (traceParent is null || traceParent.Length != MaxTraceParentLength)
        {
            return false;
        }

        if (traceState is { Length: > MaxTraceStateLength })
        {
            traceState = null;
        }

        return ActivityContext.TryParse(traceParent, traceState, isRemote: true, out context) && context.TraceId != default && context.SpanId != default;
    }

    /// <summary>
    /// Parses an X-Ray trace header (<c>Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1</c>):
    /// the trace id is the root's two hex parts joined (X-Ray ids are W3C-compatible), the span id the parent.
    /// </summary>
    public static bool TryParseXRay(string? header, out ActivityContext context)
    {
        context = default;
        if (string.IsNullOrEmpty(header) || header.Length > MaxAwsTraceHeaderLength)
        {
            return false;
        }

        ReadOnlySpan<char> root = default;
        ReadOnlySpan<char> parent = default;
        bool sampled = false;
        foreach (Range part in header.AsSpan().Split(';'))
        {
            ReadOnlySpan<char> field = header.AsSpan()[part].Trim();
            int equals = field.IndexOf('=');
            if (equals <= 0)
            {
                continue;
            }

            ReadOnlySpan<char> name = field[..equals];
            ReadOnlySpan<char> value = field[(equals + 1)..];
            if (name.SequenceEqual("Root"))
            {
                root = value;
            }
            else if (name.SequenceEqual("Parent"))
            {
                parent = value;
            }
            else if (name.SequenceEqual("Sampled"))
            {
                sampled = value.SequenceEqual("1");
            }
        }

        // "1-" + 8 hex (epoch seconds) + "-" + 24 hex.
        if (root.Length != 35 || !root.StartsWith("1-") || root[10] != '-' || parent.Length != 16)
        {
            return false;
        }

        Span<char> traceId = stackalloc char[32];
        root.Slice(2, 8).CopyTo(traceId);
        root.Slice(11, 24).CopyTo(traceId[8..]);
        if (!IsLowerHex(traceId) || !IsLowerHex(parent) || traceId.IndexOfAnyExcept('0') < 0 || parent.IndexOfAnyExcept('0') < 0)
        {
            return false;
        }

        context = new ActivityContext(
            ActivityTraceId.CreateFromString(traceId),
            ActivitySpanId.CreateFromString(parent),
            sampled ? ActivityTraceFlags.Recorded : ActivityTraceFlags.None,
            traceState: null,
            isRemote: true);
        return true;
    }

    /// <summary>A context as a W3C <c>traceparent</c> (version 00).</summary>
    public static string ToTraceParent(ActivityContext context)
        => string.Create(CultureInfo.InvariantCulture, $"00-{context.TraceId.ToHexString()}-{context.SpanId.ToHexString()}-{((int)context.TraceFlags & 1):x2}");

    private static bool IsLowerHex(ReadOnlySpan<char> value)
    {
        foreach (char c in value)
        {
            if (!char.IsAsciiHexDigitLower(c) && !char.IsAsciiDigit(c))
            {
                return false;
            }
        }

        return true;
    }
}
