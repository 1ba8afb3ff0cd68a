using Amazon.Runtime;

namespace StreamLanes.Aws.Tests;

public sealed class AwsClientOptionsProfileTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "streamlanes-profile-tests", Guid.NewGuid().ToString("N"));

    private string CredentialsFile()
    {
        Directory.CreateDirectory(_directory);
        string path = Path.Combine(_directory, "credentials");
        File.WriteAllText(path, "[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = default-secret\n\n[streamlanes]\naws_access_key_id = AKIDPROFILE\naws_secret_access_key = profile-secret\n");
        return path;
    }

    [Fact]
    public async Task A_profile_resolves_the_credentials_it_names()
    {
        var options = new AwsClientOptions { Profile = "streamlanes", ProfilesLocation = CredentialsFile() };
        options.Validate();
        AWSCredentials credentials = options.ResolveCredentials()!;
        Assert.Equal("AKIDPROFILE", (await credentials.GetCredentialsAsync()).AccessKey);
    }

    [Fact]
    public void Explicit_credentials_win_and_no_profile_means_the_default_chain()
    {
        var explicitKeys = new BasicAWSCredentials("AKIDCODE", "code-secret");
        Assert.Same(explicitKeys, new AwsClientOptions { Credentials = explicitKeys }.ResolveCredentials());
        Assert.Null(new AwsClientOptions().ResolveCredentials());
    }

    [Fact]
    public void A_missing_profile_or_a_profile_with_credentials_fails_validation_naming_the_option_never_a_secret()
    {
        string file = CredentialsFile();
        var missing = Assert.Throws<ArgumentException>(() => new AwsClientOptions { Profile = "nope", ProfilesLocation = file }.Validate());
        Assert.Contains($"Profile 'nope' was not found in ProfilesLocation '{file}'.", missing.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("secret", missing.Message, StringComparison.Ordinal);

        var both = Assert.Throws<ArgumentException>(() => new AwsClientOptions { Profile = "streamlanes", ProfilesLocation = file, Credentials = new BasicAWSCredentials("a", "b") }.Validate());
        Assert.Contains("AwsClientOptions.Profile: set either Credentials (in code) or Profile, not both.", both.Message, StringComparison.Ordinal);
    }

    public void Dispose()
    {
        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }
    }
}
