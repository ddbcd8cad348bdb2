using System.Text.Json;
using EventLoop.Tests.Queueing;
using EventLoop.Tests.Server;
using OpenQA.Selenium;
using OpenQA.Selenium.Chrome;
using OpenQA.Selenium.Support.UI;

namespace EventLoop.Tests.Http;

/// <summary>
/// The dashboard in a real browser: Debian's headless Chromium driven by Selenium through the system
/// chromedriver. Fails, never skips, without them (<c>./build.sh test</c> installs chromium and chromium-driver).
/// </summary>
public sealed class DashboardBrowserTests
{
    private const string Chromium = "/usr/bin/chromium";
    private const string ChromeDriver = "/usr/bin/chromedriver";

    [Fact]
    public async Task The_dashboard_shows_the_submitted_queues_and_retrying_a_dead_task_takes_it_out_of_the_dead_set()
    {
        Assert.True(File.Exists(Chromium) && File.Exists(ChromeDriver),
            $"the browser test needs {Chromium} and {ChromeDriver}: install the Debian packages chromium and chromium-driver (./build.sh test does)");
        await using TestServer server = HttpKit.Start();
        using HttpClient http = HttpKit.Client(server);
        using RawConnection client = server.Connect(), worker = server.Connect();
        Assert.Equal("+OK\r\n", client.Call("QUEUE", "PAUSE", "held"));
        for (int i = 0; i < 3; i++)
            client.Submit("echo", "QUEUE", "held", "ARGS", $"{i}");
        client.Submit("echo", "QUEUE", "later", "DELAY", "600000", "ARGS", "soon");
        for (int i = 0; i < 5; i++)
            client.Submit("sha256", "QUEUE", "hashing", "ARGS", $"block {i}");
        string dead = client.Submit("fail", "QUEUE", "jobs", "RETRIES", "0", "ARGS", "disk full: /var/spool");
        Assert.Equal("+OK\r\n", client.Call("SCHEDULE", "ADD", "nightly", "CRON", "0 3 * * *", "sha256", "QUEUE", "hashing", "ARGS", "report"));
        client.Submit("resize-image", "QUEUE", "images", "ARGS", "cat.png"); // no in-process handler: for external workers
        Assert.Equal("+OK\r\n", worker.Call("CLIENT", "SETNAME", "thumbnailer-1"));
        Assert.StartsWith("*1\r\n", worker.Call("FETCH", "LEASE", "600000", "FROM", "images"));
        await HttpKit.SnapshotWhen(http, s => s.GetProperty("deadCount").GetInt32() == 1 && HttpKit.Queue(s, "hashing")?.GetProperty("queued").GetInt32() == 0,
            "the failed task dead and the hashing queue drained");
        Assert.Equal("+OK\r\n", client.Call("QUEUE", "PAUSE", "jobs")); // the retried task then stays queued instead of failing again

        using ChromeDriver browser = StartBrowser();
        browser.Navigate().GoToUrl($"http://127.0.0.1:{server.Server.HttpPort}/");
        var wait = new WebDriverWait(browser, HttpKit.Patience);

        Assert.Equal("3", wait.Until(_ => Cell(browser, "held", "queued") is { Text: "3" } cell ? cell.Text : null));
        Assert.Equal("paused", Cell(browser, "held", "state")!.Text);
        Assert.Equal("1", Cell(browser, "later", "scheduled")!.Text);
        Assert.Equal("0", Cell(browser, "hashing", "queued")!.Text);
        Assert.Equal("1", Cell(browser, "images", "running")!.Text);
        Assert.Contains("disk full: /var/spool", DeadRow(browser, dead)!.FindElement(By.CssSelector("td.error")).Text);
        Assert.Contains("0 3 * * *", browser.FindElement(By.CssSelector("#schedules tr[data-schedule='nightly']")).Text);
        Assert.Contains("thumbnailer-1", browser.FindElement(By.Id("leases")).Text);
        Assert.Equal("epoll", browser.FindElement(By.Id("r-backend")).Text);
        wait.Until(_ =>
        {
            for (int i = 0; i < 100; i++)
                client.Call("PING"); // something for the throughput chart to draw
            return browser.FindElement(By.Id("throughput-chart")).FindElements(By.TagName("canvas")).Count > 0
                && int.TryParse(browser.FindElement(By.TagName("body")).GetDomAttribute("data-points"), out int points) && points >= 4;
        });
        Directory.CreateDirectory(ArtifactsDirectory);
        browser.GetScreenshot().SaveAsFile(Path.Combine(ArtifactsDirectory, "dashboard.png"));

        DeadRow(browser, dead)!.FindElement(By.CssSelector("button.retry")).Click();
        wait.Until(_ => DeadRow(browser, dead) is null && Cell(browser, "jobs", "queued") is { Text: "1" });
        Assert.Equal("0 tasks", browser.FindElement(By.Id("dead-count")).Text);
        Assert.Equal(EventLoop.Client.TaskState.Queued, client.State(dead));
        browser.GetScreenshot().SaveAsFile(Path.Combine(ArtifactsDirectory, "dashboard-after-retry.png"));
    }

    private static ChromeDriver StartBrowser()
    {
        ChromeDriverService service = ChromeDriverService.CreateDefaultService(Path.GetDirectoryName(ChromeDriver), Path.GetFileName(ChromeDriver));
        service.HideCommandPromptWindow = true;
        service.SuppressInitialDiagnosticInformation = true;
        var options = new ChromeOptions { BinaryLocation = Chromium };
        string profile = Path.Combine(Path.GetTempPath(), "eventloop-chromium-" + Guid.NewGuid().ToString("N"));
        options.AddArguments("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", "--window-size=1280,1400", $"--user-data-dir={profile}");
        return new ChromeDriver(service, options, TimeSpan.FromSeconds(60));
    }

    private static IWebElement? Cell(ChromeDriver browser, string queue, string column) =>
        browser.FindElements(By.CssSelector($"#queues tr[data-queue='{queue}'] td[data-col='{column}']")).FirstOrDefault();

    private static IWebElement? DeadRow(ChromeDriver browser, string id) =>
        browser.FindElements(By.CssSelector($"#dead tr[data-id='{id}']")).FirstOrDefault();

    /// <summary>The repository's artifacts/ folder (found from the test binary's location).</summary>
    private static string ArtifactsDirectory
    {
        get
        {
            for (DirectoryInfo? folder = new(AppContext.BaseDirectory); folder is not null; folder = folder.Parent)
            {
                if (File.Exists(Path.Combine(folder.FullName, "EventLoop.sln")))
                    return Path.Combine(folder.FullName, "artifacts");
            }
            return Path.Combine(AppContext.BaseDirectory, "artifacts");
        }
    }
}
