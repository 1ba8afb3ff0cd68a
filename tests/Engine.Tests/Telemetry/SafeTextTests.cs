using StreamLanes.Sinks;

namespace StreamLanes.Engine.Tests.Telemetry;

public sealed class SafeTextTests
{
    [Theory]
    [InlineData("customer-42")]
    [InlineData("clé-ünïcode-日本")]
    [InlineData("emoji-😀")]
    public void A_clean_short_value_is_returned_as_is(string value) => Assert.Same(value, SafeText.Escape(value));

    [Theory]
    [InlineData("a\r\nERROR|forged", @"a\u000D\u000AERROR|forged")]
    [InlineData("\u001b[31mred", @"\u001B[31mred")]
    [InlineData("bidi\u202Eevil", @"bidi\u202Eevil")]
    [InlineData("isolate\u2066x\u2069", @"isolate\u2066x\u2069")]
    [InlineData("c1\u009Bx", @"c1\u009Bx")]
    [InlineData("sep\u2028x", @"sep\u2028x")]
    [InlineData("tab\tdel\u007F", @"tab\u0009del\u007F")]
    [InlineData(@"back\slash", @"back\\slash")]
    [InlineData(@"not\u000Aa newline", @"not\\u000Aa newline")]
    public void Control_characters_lone_surrogates_and_bidi_controls_are_escaped(string value, string expected)
        => Assert.Equal(expected, SafeText.Escape(value));

    [Fact]
    public void Lone_surrogates_are_escaped()
    {
        // Built in code: attribute strings are stored as UTF-8, which cannot hold a lone surrogate.
        Assert.Equal(@"lone\uD800x", SafeText.Escape("lone" + (char)0xD800 + "x"));
        Assert.Equal(@"lone\uDC00", SafeText.Escape("lone" + (char)0xDC00));
        Assert.Equal(@"pair\uDC00\uD800", SafeText.Escape("pair" + (char)0xDC00 + (char)0xD800));
    }

    [Fact]
    public void A_long_value_is_capped_with_its_length()
    {
        string escaped = SafeText.Escape(new string('k', 10_000));
        Assert.Equal(new string('k', 128) + "…(10000 chars)", escaped);
    }

    [Fact]
    public void The_cap_never_splits_a_surrogate_pair()
    {
        string value = new string('a', 127) + "😀" + new string('b', 10);
        string escaped = SafeText.Escape(value);
        Assert.StartsWith(new string('a', 127) + "…(", escaped, StringComparison.Ordinal);
        Assert.DoesNotContain(escaped, char.IsSurrogate);
    }

    [Fact]
    public void An_exception_message_is_escaped_for_the_log_and_keeps_its_type_and_stack()
    {
        Exception original;
        try
        {
            throw new InvalidOperationException("bad key a\r\nERROR|forged", new FormatException("inner \u001b[2J"));
        }
        catch (InvalidOperationException ex)
        {
            original = ex;
        }

        Exception logged = SafeText.ForLog(original);
        string text = logged.ToString();
        Assert.DoesNotContain('\u001b', text);
        Assert.DoesNotContain("\nERROR|forged", text, StringComparison.Ordinal);
        Assert.StartsWith(@"System.InvalidOperationException: bad key a\u000D\u000AERROR|forged ---> System.FormatException: inner \u001B[2J", text, StringComparison.Ordinal);
        Assert.Contains(nameof(An_exception_message_is_escaped_for_the_log_and_keeps_its_type_and_stack), text, StringComparison.Ordinal);

        var clean = new InvalidOperationException("plain");
        Assert.Same(clean, SafeText.ForLog(clean));
    }
}
