using OpenQA.Selenium;
using OpenQA.Selenium.Chrome;
using OpenQA.Selenium.Support.UI;

namespace MLRay.Tests.Pipeline.OpsConsole;

/// <summary>
/// Debian's headless Chromium driven by its ChromeDriver (both installed by scripts/setup.sh: nothing is downloaded at
/// test time), with a fresh profile per test; screenshots go to <c>TestResults/console-screenshots/</c> at the repo root.
/// </summary>
internal sealed class ConsoleBrowser : IDisposable
{
    public const string Chromium = "/usr/bin/chromium";
    public const string ChromeDriver = "/usr/bin/chromedriver";
    /// <summary>Another site for cross-site requests: a name Chromium resolves to 127.0.0.1 (a host rule), so nothing binds elsewhere.</summary>
    public const string OtherSite = "other-site.test";
    public static string ScreenshotDir => TestPaths.RepoFile(Path.Combine("TestResults", "console-screenshots"));

    private readonly string _profile = Path.Combine(Path.GetTempPath(), "mlray-chromium-" + Guid.NewGuid().ToString("N"));
    private readonly string _test;

    public ChromeDriver Driver { get; }

    public ConsoleBrowser(string test)
    {
        if (!File.Exists(Chromium) || !File.Exists(ChromeDriver))
            throw new InvalidOperationException($"{Chromium} and {ChromeDriver} are needed: scripts/setup.sh installs Debian's chromium and chromium-driver");
        _test = test;
        var options = new ChromeOptions { BinaryLocation = Chromium };
        // Without the background-networking flags Chromium keeps calling Google's hosts, which this network refuses.
        options.AddArguments("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--disable-quic", "--window-size=1500,1100", $"--host-resolver-rules=MAP {OtherSite} 127.0.0.1", $"--user-data-dir={_profile}");
        var service = ChromeDriverService.CreateDefaultService(Path.GetDirectoryName(ChromeDriver)!, Path.GetFileName(ChromeDriver));
        service.SuppressInitialDiagnosticInformation = true;
        Driver = new ChromeDriver(service, options, TimeSpan.FromSeconds(60));
        Driver.Manage().Timeouts().PageLoad = TimeSpan.FromSeconds(60);
    }

    public void Go(Uri uri) => Driver.Navigate().GoToUrl(uri);

    public IWebElement Find(string css) => Driver.FindElement(By.CssSelector(css));

    public IReadOnlyList<IWebElement> FindAll(string css) => Driver.FindElements(By.CssSelector(css));

    /// <summary>Waits until <paramref name="condition"/> holds (stale elements, redrawn by a live update meanwhile, are read again).</summary>
    public T WaitFor<T>(Func<IWebDriver, T> condition, string what, int seconds = 60)
    {
        var wait = new WebDriverWait(Driver, TimeSpan.FromSeconds(seconds)) { PollingInterval = TimeSpan.FromMilliseconds(200), Message = what };
        wait.IgnoreExceptionTypes(typeof(NoSuchElementException), typeof(StaleElementReferenceException));
        try
        {
            return wait.Until(condition);
        }
        catch (WebDriverTimeoutException)
        {
            Screenshot("timeout");
            throw;
        }
    }

    /// <summary>The overview cell of <paramref name="model"/> on <paramref name="cluster"/>.</summary>
    public static string Cell(string cluster, string model) => $"td[data-cluster='{cluster}'][data-model='{model}']";

    public string Screenshot(string name)
    {
        Directory.CreateDirectory(ScreenshotDir);
        var path = Path.Combine(ScreenshotDir, $"{_test}-{name}.png");
        Driver.GetScreenshot().SaveAsFile(path);
        return path;
    }

    public void Dispose()
    {
        Driver.Quit();
        Driver.Dispose();
        try { Directory.Delete(_profile, recursive: true); } catch (IOException) { /* Chromium may still hold a file */ }
    }
}
