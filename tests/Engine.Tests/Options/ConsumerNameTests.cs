using Microsoft.Extensions.DependencyInjection;
using StreamLanes.Engine.Tests.Support;

namespace StreamLanes.Engine.Tests.Options;

/// <summary>A consumer name becomes a file name: it is validated at registration, and escaped wherever a path is built from it.</summary>
public sealed class ConsumerNameTests
{
    public static TheoryData<string> InvalidNames =>
    [
        "../../../x", "/tmp/absolute", "a/b", "a\\b", ".", "..", "", " ", new string('a', 129), "a b", "café", "a\nb", "C:x", "a\u001b[31m",
    ];

    [Theory]
    [MemberData(nameof(InvalidNames))]
    public void An_invalid_name_is_refused_at_registration_with_the_rule(string name)
    {
        var services = new ServiceCollection();
        ArgumentException error = Assert.ThrowsAny<ArgumentException>(() => services.AddStreamConsumer<RecordingHandler>(name));
        Assert.Contains("1 to 128 ASCII letters, digits, '-', '_' or '.', and not '.' or '..'", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', error.Message);
        Assert.DoesNotContain('\u001b', error.Message);
    }

    [Theory]
    [InlineData("orders")]
    [InlineData("Orders.v2-eu_west")]
    [InlineData("...")]
    [InlineData("0")]
    public void A_valid_name_is_accepted(string name)
    {
        var services = new ServiceCollection();
        Assert.Equal(name, services.AddStreamConsumer<RecordingHandler>(name).Name);
        Assert.Equal(new string('n', 128), new ServiceCollection().AddStreamConsumer<RecordingHandler>(new string('n', 128)).Name);
    }

    [Theory]
    [MemberData(nameof(InvalidNames))]
    public void A_path_built_from_any_name_stays_in_the_dead_letter_directory(string name)
    {
        string root = Path.Combine(Path.GetTempPath(), "streamlanes-tests", Guid.NewGuid().ToString("N"));
        string path = StreamConsumerBuilder.DefaultDeadLetterPath(new StreamConsumerOptions { DataDirectory = root }, name);
        Assert.Equal(Path.Combine(root, "dead-letters"), Path.GetDirectoryName(path));
        Assert.EndsWith(".jsonl", path, StringComparison.Ordinal);
    }

    [Fact]
    public void Distinct_invalid_names_never_share_a_file()
    {
        var options = new StreamConsumerOptions { DataDirectory = "d" };
        Assert.NotEqual(StreamConsumerBuilder.DefaultDeadLetterPath(options, "a/b"), StreamConsumerBuilder.DefaultDeadLetterPath(options, "a\\b"));
        Assert.Equal(Path.GetFullPath(Path.Combine("d", "dead-letters", "orders.jsonl")), StreamConsumerBuilder.DefaultDeadLetterPath(options, "orders"));
    }
}
