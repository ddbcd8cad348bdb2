using System.Diagnostics.Metrics;
using System.Net;
using System.Reflection;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OpenTelemetry.Metrics;

namespace EventLoop.Http;

/// <summary>
/// The HTTP endpoint: Kestrel on its own threads, serving the dashboard (<c>/</c>), the snapshot as JSON
/// (<c>/api/snapshot</c>), the dashboard's few changes (<c>POST /api/…</c>) and Prometheus text
/// (<c>/metrics</c>). It reads the server only through <see cref="SnapshotPublisher.Current"/> and the
/// meter's instruments, and changes it only through <see cref="ReactorCommands"/>.
/// </summary>
internal sealed class HttpHost : IAsyncDisposable
{
    /// <summary>Header the dashboard's script sends with every change: a cross-site form cannot, so it cannot make one.</summary>
    public const string ChangeHeader = "X-EventLoop-Dashboard";

    private readonly WebApplication _app;

    private HttpHost(WebApplication app) => _app = app;

    /// <summary>The port Kestrel listens on.</summary>
    public int Port { get; private init; }

    public static HttpHost Start(ServerOptions options, SnapshotPublisher snapshots, ReactorCommands commands, Meter meter, ILoggerFactory logging)
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [], ContentRootPath = AppContext.BaseDirectory });
        builder.Logging.ClearProviders().SetMinimumLevel(LogLevel.Warning).AddProvider(new ForwardingLoggerProvider(logging));
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Listen(IPAddress.Parse(options.HttpBindAddress), options.HttpPort);
        });
        builder.Services.AddOpenTelemetry().WithMetrics(metrics => metrics
            .AddMeter(meter.Name)
            // Only this server's instruments: a process may run several servers, each with its own meter named EventLoop.
            .AddView(instrument => !ReferenceEquals(instrument.Meter, meter) ? MetricStreamConfiguration.Drop
                : instrument is Histogram<double> ? new ExplicitBucketHistogramConfiguration { Boundaries = Diagnostics.LatencyInstruments.Buckets }
                : null)
            .AddPrometheusExporter(prometheus => prometheus.ScrapeResponseCacheDurationMilliseconds = 0));
        WebApplication app = builder.Build();

        var auth = new HttpAuthentication(options.RequirePass);
        app.Use(async (context, next) =>
        {
            if (!auth.Allows(context.Request))
            {
                context.Response.StatusCode = StatusCodes.Status401Unauthorized;
                context.Response.Headers.WWWAuthenticate = "Basic realm=\"eventloop\", charset=\"UTF-8\"";
                return;
            }
            if (HttpMethods.IsPost(context.Request.Method) && !context.Request.Headers.ContainsKey(ChangeHeader))
            {
                context.Response.StatusCode = StatusCodes.Status403Forbidden;
                await context.Response.WriteAsync($"changes need the {ChangeHeader} header\n");
                return;
            }
            await next(context);
        });

        app.MapGet("/", () => Asset("index.html"));
        app.MapGet("/assets/{file}", (string file) => Asset(file));
        app.MapGet("/api/snapshot", () => snapshots.Current is { } snapshot ? Results.Json(snapshot) : Results.StatusCode(StatusCodes.Status503ServiceUnavailable));
        app.MapPost("/api/queues/{name}/pause", (string name) => Change(() => commands.PauseAsync(name, paused: true)));
        app.MapPost("/api/queues/{name}/resume", (string name) => Change(() => commands.PauseAsync(name, paused: false)));
        app.MapPost("/api/dead/{id}/retry", (string id) => Change(() => commands.RetryDeadAsync(id)));
        app.MapPost("/api/dead/{id}/drop", (string id) => Change(() => commands.DropDeadAsync(id)));
        app.MapPrometheusScrapingEndpoint("/metrics");

        try
        {
            app.StartAsync().GetAwaiter().GetResult();
        }
        catch
        {
            ((IAsyncDisposable)app).DisposeAsync().AsTask().GetAwaiter().GetResult();
            throw;
        }
        string address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new HttpHost(app) { Port = new Uri(address).Port };
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            using var patience = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await _app.StopAsync(patience.Token).ConfigureAwait(false);
        }
        finally
        {
            await _app.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>204 when made, 404 when there was nothing to change, 400 for a name no queue can have, 503 when the store failed or the server stopped.</summary>
    private static async Task<IResult> Change(Func<Task<bool>> change)
    {
        try
        {
            return await change() ? Results.NoContent() : Results.NotFound();
        }
        catch (ArgumentException bad)
        {
            return Results.Text(bad.Message + "\n", "text/plain", statusCode: StatusCodes.Status400BadRequest);
        }
        catch (InvalidOperationException failed)
        {
            return Results.Text(failed.Message + "\n", "text/plain", statusCode: StatusCodes.Status503ServiceUnavailable);
        }
    }

    private static IResult Asset(string file)
    {
        Stream? content = typeof(HttpHost).Assembly.GetManifestResourceStream("dashboard/" + file);
        if (content is null)
            return Results.NotFound();
        string type = Path.GetExtension(file) switch
        {
            ".html" => "text/html; charset=utf-8",
            ".js" => "text/javascript; charset=utf-8",
            ".css" => "text/css; charset=utf-8",
            _ => "text/plain; charset=utf-8",
        };
        return Results.Stream(content, type);
    }

    /// <summary>Kestrel's own log lines (warnings and errors) go to the server's logger.</summary>
    private sealed class ForwardingLoggerProvider(ILoggerFactory target) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => target.CreateLogger(categoryName);

        public void Dispose()
        {
        }
    }
}
