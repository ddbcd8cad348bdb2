using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using EventLoop.Tests.Server;

namespace EventLoop.Tests.Http;

/// <summary>Servers with the HTTP endpoint on, and the reading of what it serves.</summary>
internal static class HttpKit
{
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    /// <summary>
    /// A server with the HTTP endpoint on a free loopback port (HttpPort 0 means off, so the port is picked
    /// here; another process may take it between picking and binding, hence the few tries).
    /// </summary>
    public static TestServer Start(ServerOptions? options = null)
    {
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                return new TestServer((options ?? new ServerOptions()) with { HttpPort = FreePort() });
            }
            catch (IOException) when (attempt < 3)
            {
            }
        }
    }

    public static HttpClient Client(TestServer server) =>
        new() { BaseAddress = new Uri($"http://127.0.0.1:{server.Server.HttpPort}/"), Timeout = Patience };

    /// <summary>Polls <c>/api/snapshot</c> until <paramref name="done"/> holds for it; fails after <see cref="Patience"/>.</summary>
    public static async Task<JsonElement> SnapshotWhen(HttpClient http, Func<JsonElement, bool> done, string what)
    {
        var clock = Stopwatch.StartNew();
        string last = "";
        while (clock.Elapsed < Patience)
        {
            using HttpResponseMessage response = await http.GetAsync("api/snapshot");
            if (response.StatusCode == HttpStatusCode.OK)
            {
                last = await response.Content.ReadAsStringAsync();
                JsonElement snapshot = JsonDocument.Parse(last).RootElement.Clone();
                if (done(snapshot))
                    return snapshot;
            }
            await Task.Delay(50);
        }
        throw new Xunit.Sdk.XunitException($"the snapshot never showed {what}; last: {last}");
    }

    /// <summary>A dashboard change: a POST with the header a cross-site form cannot send.</summary>
    public static async Task<HttpResponseMessage> Post(HttpClient http, string path)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path);
        request.Headers.Add("X-EventLoop-Dashboard", "1");
        return await http.SendAsync(request);
    }

    public static JsonElement? Queue(JsonElement snapshot, string name) =>
        snapshot.GetProperty("queues").EnumerateArray().Cast<JsonElement?>().FirstOrDefault(q => q!.Value.GetProperty("name").GetString() == name);

    /// <summary>INFO's <c>key:value</c> lines.</summary>
    public static Dictionary<string, string> ParseInfo(string info) =>
        info.Split("\r\n").Where(line => line.Contains(':') && !line.StartsWith('#'))
            .Select(line => line.Split(':', 2)).ToDictionary(kv => kv[0], kv => kv[1]);

    public static long InfoNumber(Dictionary<string, string> info, string key) =>
        long.Parse(info[key], CultureInfo.InvariantCulture);

    public static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }
}
