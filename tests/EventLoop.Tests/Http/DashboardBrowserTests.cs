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
        // The page redraws its tables every second: an element found just before a redraw is gone after it.
        wait.IgnoreExceptionTypes(typeof(StaleElementReferenceException));

        Assert.Equal("3", wait.Until(_ => CellText(browser, "held", "queued") is "3" ? "3" : null));
        Assert.Equal("paused", CellText(browser, "held", "state"));
        Assert.Equal("1", CellText(browser, "later", "scheduled"));
        Assert.Equal("0", CellText(browser, "hashing", "queued"));
        Assert.Equal("1", CellText(browser, "images", "running"));
        Assert.Contains("disk full: /var/spool", TextOf(browser, $"#dead tr[data-id='{dead}'] td.error"));
        Assert.Contains("0 3 * * *", TextOf(browser, "#schedules tr[data-schedule='nightly']"));
        Assert.Contains("thumbnailer-1", TextOf(browser, "#leases"));
        Assert.Equal("epoll", TextOf(browser, "#r-backend"));
        Assert.True(Hidden(browser, "queue-stale")); // in memory the queue's figures are read with each snapshot
        wait.Until(_ =>
        {
            for (int i = 0; i < 100; i++)
                client.Call("PING"); // something for the throughput chart to draw
            return browser.FindElement(By.Id("throughput-chart")).FindElements(By.TagName("canvas")).Count > 0
                && int.TryParse(browser.FindElement(By.TagName("body")).GetDomAttribute("data-points"), out int points) && points >= 4;
        });
        Directory.CreateDirectory(ArtifactsDirectory);
        browser.GetScreenshot().SaveAsFile(Path.Combine(ArtifactsDirectory, "dashboard.png"));

        wait.Until(_ =>
        {
            DeadRow(browser, dead)!.FindElement(By.CssSelector("button.retry")).Click(); // a redraw in between: found again
            return true;
        });
        wait.Until(_ => DeadRow(browser, dead) is null && CellText(browser, "jobs", "queued") is "1");
        Assert.Equal("0 tasks", TextOf(browser, "#dead-count"));
        Assert.Equal(EventLoop.Client.TaskState.Queued, client.State(dead));
        browser.GetScreenshot().SaveAsFile(Path.Combine(ArtifactsDirectory, "dashboard-after-retry.png"));
    }

    /// <summary>Headless Chromium; fails, never skips, without it.</summary>
    internal static ChromeDriver StartBrowser()
    {
        Assert.True(File.Exists(Chromium) && File.Exists(ChromeDriver),
            $"the browser test needs {Chromium} and {ChromeDriver}: install the Debian packages chromium and chromium-driver (./build.sh test does)");
        ChromeDriverService service = ChromeDriverService.CreateDefaultService(Path.GetDirectoryName(ChromeDriver), Path.GetFileName(ChromeDriver));
        service.HideCommandPromptWindow = true;
        service.SuppressInitialDiagnosticInformation = true;
        var options = new ChromeOptions { BinaryLocation = Chromium };
        string profile = Path.Combine(Path.GetTempPath(), "eventloop-chromium-" + Guid.NewGuid().ToString("N"));
        options.AddArguments("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", "--window-size=1280,1400", $"--user-data-dir={profile}");
        return new ChromeDriver(service, options, TimeSpan.FromSeconds(60));
    }

    internal static string? CellText(ChromeDriver browser, string queue, string column) =>
        TextOf(browser, $"#queues tr[data-queue='{queue}'] td[data-col='{column}']");

    /// <summary>The rendered text of the first element matching <paramref name="selector"/>, read in one step (no element to go stale), or null.</summary>
    internal static string? TextOf(ChromeDriver browser, string selector) =>
        (string?)browser.ExecuteScript("const e = document.querySelector(arguments[0]); return e ? e.innerText.trim() : null;", selector);

    /// <summary>Whether the element with <paramref name="id"/> is hidden (its text is then still readable, and stale).</summary>
    internal static bool Hidden(ChromeDriver browser, string id) =>
        (bool)browser.ExecuteScript("return document.getElementById(arguments[0]).hidden;", id)!;

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
