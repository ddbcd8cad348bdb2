using System.Xml.Linq;
using EventLoop.Cli.CommandLine;
using EventLoop.Cli.Load;
using EventLoop.Tests.Server;

namespace EventLoop.Tests.Cli;

public sealed class PlotTests : IDisposable
{
    private static readonly XNamespace Svg = "http://www.w3.org/2000/svg";
    private readonly string _folder = Directory.CreateTempSubdirectory("plots-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private static (int Code, string Errors) Run(params string[] args)
    {
        var errors = new StringWriter();
        int code = EventLoopCommandLine.Run(args, new StringWriter(), errors, liveProgress: false);
        return (code, errors.ToString());
    }

    /// <summary>The chart's series (by name) and, for each, how many polylines and bars it drew; the legend's names.</summary>
    private static (Dictionary<string, (int Lines, int Bars)> Series, List<string> Legend) Read(string path)
    {
        XDocument svg = XDocument.Parse(File.ReadAllText(path)); // well-formed XML, or this throws
        Assert.Equal(Svg + "svg", svg.Root!.Name);
        var series = svg.Descendants(Svg + "g").Where(g => (string?)g.Attribute("class") == "series").ToDictionary(
            g => (string)g.Attribute("data-series")!,
            g => (g.Elements(Svg + "polyline").Count(), g.Elements(Svg + "rect").Count()));
        List<string> legend = [.. svg.Descendants(Svg + "g").Single(g => (string?)g.Attribute("class") == "legend").Elements(Svg + "text").Select(t => t.Value)];
        return (series, legend);
    }

    [Fact]
    public async Task Load_plot_in_open_loop_draws_the_corrected_and_the_uncorrected_spectrum()
    {
        await using var server = new TestServer();
        string path = Path.Combine(_folder, "latency.svg");
        int code = LoadCommand.Run(["--port", server.Port.ToString(), "-c", "4", "--rate", "4000", "-n", "2000", "--warmup", "0", "--plot", path],
            new StringWriter(), new StringWriter(), liveProgress: false);
        Assert.Equal(0, code);
        var (series, legend) = Read(path);
        Assert.Equal(["corrected", "uncorrected"], series.Keys.Order());
        Assert.All(series.Values, s => Assert.Equal((1, 0), s));
        Assert.Equal(["corrected", "uncorrected"], legend);
        string text = File.ReadAllText(path);
        foreach (string tick in new[] { ">0%<", ">90%<", ">99%<", ">99.9%<" }) // the log-scaled percentile axis
            Assert.Contains(tick, text);
    }

    [Fact]
    public async Task Load_plot_in_closed_loop_draws_one_spectrum()
    {
        await using var server = new TestServer();
        string path = Path.Combine(_folder, "closed.svg");
        Assert.Equal(0, LoadCommand.Run(["--port", server.Port.ToString(), "-c", "2", "-n", "500", "--warmup", "0", "--plot", path],
            new StringWriter(), new StringWriter(), liveProgress: false));
        Assert.Equal(["latency"], Read(path).Series.Keys);
    }

    [Fact]
    public void Plot_draws_one_line_per_series_of_a_csv()
    {
        string csv = Path.Combine(_folder, "lines.csv"), svg = Path.Combine(_folder, "lines.svg");
        File.WriteAllLines(csv, ["server,connections,cpu", "epoll,900,8.3", "epoll,10000,9.6", "poll & co,900,10.1", "poll & co,10000,75.8", "select,900,10.9"]);
        var (code, errors) = Run("plot", csv, "--out", svg, "--log-x", "yes", "--title", "CPU <per> request");
        Assert.True(code == 0, errors);
        var (series, legend) = Read(svg);
        Assert.Equal(["epoll", "poll & co", "select"], legend);
        Assert.Equal(3, series.Count);
        Assert.All(series.Values, s => Assert.Equal((1, 0), s));
    }

    [Fact]
    public void Plot_draws_grouped_bars_with_a_reference_line()
    {
        string csv = Path.Combine(_folder, "bars.csv"), svg = Path.Combine(_folder, "bars.svg");
        File.WriteAllLines(csv, ["cell,ratio,value", "PING c50 P1,throughput,1.1", "PING c50 P1,cpu,0.8", "echo c50 P16,throughput,1.3", "echo c50 P16,cpu,1.2"]);
        var (code, errors) = Run("plot", csv, "--out", svg, "--chart", "bars", "--reference", "1");
        Assert.True(code == 0, errors);
        var (series, legend) = Read(svg);
        Assert.Equal(["throughput", "cpu"], legend);
        Assert.All(series.Values, s => Assert.Equal((0, 2), s));
        Assert.Contains("stroke-dasharray", File.ReadAllText(svg));
    }

    [Theory]
    [InlineData("a,b\nepoll,1,2,3\n", "line 2: expected 3 comma-separated fields")]
    [InlineData("a,b,c\nepoll,one,2\n", "'one' is not a number")]
    [InlineData("a,b,c\n", "nothing to plot")]
    public void Plot_exits_1_saying_what_is_wrong_with_the_data(string content, string message)
    {
        string csv = Path.Combine(_folder, "bad.csv");
        File.WriteAllText(csv, content);
        var (code, errors) = Run("plot", csv, "--out", Path.Combine(_folder, "bad.svg"));
        Assert.Equal(1, code);
        Assert.Contains(message, errors);
        Assert.StartsWith("eventloop plot: ", errors);
    }

    [Fact]
    public void The_backends_chart_in_the_docs_has_one_line_per_backend_of_its_csv()
    {
        string docs = RepositoryFolder("docs", "img");
        string[] servers = [.. File.ReadAllLines(Path.Combine(docs, "backends.csv")).Skip(1).Select(l => l.Split(',')[0]).Distinct()];
        var (series, legend) = Read(Path.Combine(docs, "backends.svg"));
        Assert.Equal(servers, legend);
        Assert.Equal(servers.Order(), series.Keys.Order());
        Assert.Equal(["epoll", "epoll-et", "io_uring", "poll", "refserver", "select"], servers.Order());
    }

    private static string RepositoryFolder(params string[] parts)
    {
        for (DirectoryInfo? dir = new(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "EventLoop.sln")))
                return Path.Combine([dir.FullName, .. parts]);
        throw new InvalidOperationException("the repository root (EventLoop.sln) was not found above the test assembly");
    }
}
