using System.Diagnostics;
using OpenQA.Selenium;
using OpenQA.Selenium.Chrome;

namespace StreamLanes.AspNetCore.Tests;

/// <summary>
/// A headless Chromium driven through chromedriver, both from the system's packages: <c>scripts/browser.sh ensure</c>
/// installs them when missing (apt-get, as root: CI) or fails naming what to install. Never skipped.
/// </summary>
public sealed class BrowserFixture : IDisposable
{
    private readonly string _profile = Directory.CreateTempSubdirectory("streamlanes-chromium-").FullName;

    public BrowserFixture()
    {
        (string browser, string driver) = EnsureInstalled();
        var options = new ChromeOptions { BinaryLocation = browser };
        options.AddArguments(
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", "--window-size=1400,1100", $"--user-data-dir={_profile}");
        ChromeDriverService service = ChromeDriverService.CreateDefaultService(Path.GetDirectoryName(driver)!, Path.GetFileName(driver));
        service.SuppressInitialDiagnosticInformation = true;
        service.HideCommandPromptWindow = true;
        Driver = new ChromeDriver(service, options, TimeSpan.FromSeconds(60));
        Driver.Manage().Timeouts().PageLoad = TimeSpan.FromSeconds(30);
    }

    public ChromeDriver Driver { get; }

    /// <summary>Where the tests save their screenshots (the README's come from here).</summary>
    public static string ScreenshotDirectory { get; } = Directory.CreateDirectory(Path.Combine(AppContext.BaseDirectory, "screenshots")).FullName;

    public void Screenshot(string name) => Driver.GetScreenshot().SaveAsFile(Path.Combine(ScreenshotDirectory, name));

    public void Dispose()
    {
        Driver.Quit();
        Driver.Dispose();
        try
        {
            Directory.Delete(_profile, recursive: true);
        }
        catch (IOException)
        {
            // Chromium may still be writing its profile as it exits; a temporary folder left behind is harmless.
        }
    }

    private static (string Browser, string Driver) EnsureInstalled()
    {
        string script = Path.Combine(RepositoryRoot(), "scripts", "browser.sh");
        var start = new ProcessStartInfo("bash", [script, "ensure"]) { RedirectStandardOutput = true, RedirectStandardError = true };
        using Process process = Process.Start(start) ?? throw new InvalidOperationException("Could not start bash to run scripts/browser.sh.");
        Task<string> output = process.StandardOutput.ReadToEndAsync();
        Task<string> errors = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(10)))
        {
            process.Kill(entireProcessTree: true);
            throw new InvalidOperationException("'scripts/browser.sh ensure' did not finish within 10 minutes (installing chromium and chromium-driver).");
        }

        string[] lines = output.Result.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (process.ExitCode != 0 || lines.Length < 2)
        {
            throw new InvalidOperationException(
                $"The browser tests need Chromium and chromedriver (Debian packages 'chromium' and 'chromium-driver'); 'scripts/browser.sh ensure' failed with exit code {process.ExitCode}:{Environment.NewLine}{errors.Result}");
        }

        return (lines[^2], lines[^1]);
    }

    private static string RepositoryRoot()
    {
        string? fromEnvironment = Environment.GetEnvironmentVariable("STREAMLANES_REPO_ROOT");
        if (!string.IsNullOrEmpty(fromEnvironment))
        {
            return fromEnvironment;
        }

        for (DirectoryInfo? dir = new(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "scripts", "browser.sh")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"Could not find scripts/browser.sh above {AppContext.BaseDirectory}; set STREAMLANES_REPO_ROOT to the repository root.");
    }
}
