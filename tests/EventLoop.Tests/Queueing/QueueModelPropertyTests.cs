using System.Globalization;
using CsCheck;
using EventLoop.Client;
using EventLoop.Tests.Fuzz;
using EventLoop.Tests.Server;
using Xunit.Abstractions;
using static EventLoop.Tests.Queueing.QueueKit;

namespace EventLoop.Tests.Queueing;

/// <summary>
/// Random sequences of SUBMIT (external, echo and fail tasks, to paused and running queues, with KEY, PRIORITY, DELAY), CANCEL, QUEUE PAUSE/RESUME,
/// DEAD RETRY/DROP and STATUS against a small model of the state machine. Tasks are either <c>external</c> (no
/// in-process handler, so nothing runs them and they stay put), <c>echo</c>, or <c>fail</c> with RETRIES 0; the test waits for the last two
/// with WAIT whenever they can run, so every state is deterministic. After each step the server and the model
/// must agree on every reply, every task's STATUS, the queues' counts and the dead set.
/// </summary>
public sealed class QueueModelPropertyTests(ITestOutputHelper output)
{
    private enum ModelState { Scheduled, Queued, Succeeded, Failed, Cancelled }

    private sealed class ModelTask(string id, int queue, string task, int priority, string? key, ModelState state)
    {
        public string Id { get; } = id;
        public int Queue { get; } = queue;
        public string Task { get; } = task;
        public int Priority { get; } = priority;
        public string? Key { get; } = key;
        public ModelState State { get; set; } = state;
        public bool Dropped { get; set; }
        public int Attempt { get; set; }
    }

    private abstract record Op;
    private sealed record SubmitExternal(int Queue, int Priority, int? Key, bool Delayed) : Op;
    private sealed record SubmitFail(int Queue, int Priority) : Op;
    private sealed record SubmitEcho(int Queue, int Priority, int? Key) : Op;
    private sealed record Cancel(int Pick) : Op;
    private sealed record Pause(int Queue) : Op;
    private sealed record Resume(int Queue) : Op;
    private sealed record DeadRetry(int Pick) : Op;
    private sealed record DeadDrop(int Pick) : Op;
    private sealed record Status(int Pick) : Op;

    private const int QueueCount = 2;

    private static readonly Gen<Op> Ops = Gen.Frequency(
        (5, Gen.Select(Gen.Int[0, QueueCount - 1], Gen.Int[0, 9], Gen.Int[0, 3], Gen.Int[0, 4],
            (q, p, k, d) => (Op)new SubmitExternal(q, p, k == 3 ? null : k, d == 0))),
        (3, Gen.Select(Gen.Int[0, QueueCount - 1], Gen.Int[0, 9], (q, p) => (Op)new SubmitFail(q, p))),
        (2, Gen.Select(Gen.Int[0, QueueCount - 1], Gen.Int[0, 9], Gen.Int[0, 3], (q, p, k) => (Op)new SubmitEcho(q, p, k == 3 ? null : k))),
        (3, Gen.Int[-1, 99].Select(i => (Op)new Cancel(i))),
        (2, Gen.Int[0, QueueCount - 1].Select(q => (Op)new Pause(q))),
        (2, Gen.Int[0, QueueCount - 1].Select(q => (Op)new Resume(q))),
        (2, Gen.Int[-1, 99].Select(i => (Op)new DeadRetry(i))),
        (2, Gen.Int[-1, 99].Select(i => (Op)new DeadDrop(i))),
        (1, Gen.Int[-1, 99].Select(i => (Op)new Status(i))));

    [Fact]
    public async Task Random_command_sequences_agree_with_the_model()
    {
        await using var server = new TestServer();
        using RawConnection client = server.Connect();
        int runs = 0;
        FuzzBudget.Run(output, "queue model property", FuzzBudget.Seconds(0.5), () =>
        {
            Ops.Array[1, 20].Sample(ops =>
            {
                Interlocked.Increment(ref runs);
                new Run(client, Unique("model")).Execute(ops);
            }, iter: 200, threads: 1, print: ops => string.Join("; ", ops.Select(o => o.ToString())));
            return runs;
        });
    }

    /// <summary>One sequence on fresh queues and keys (a shared server; names are unique per run).</summary>
    private sealed class Run(RawConnection client, string prefix)
    {
        private readonly List<ModelTask> _tasks = [];
        private readonly bool[] _paused = new bool[QueueCount];
        private readonly Dictionary<int, string> _keyOwner = []; // key → id of the unfinished task holding it

        private string QueueName(int queue) => $"{prefix}-q{queue}";

        private string KeyName(int key) => $"{prefix}-k{key}";

        public void Execute(Op[] ops)
        {
            for (int step = 0; step < ops.Length; step++)
            {
                string context = $"step {step} ({ops[step]})";
                Apply(ops[step], context);
                Verify(context);
            }
            foreach (ModelTask task in _tasks.Where(t => t.State is ModelState.Queued or ModelState.Scheduled))
                client.Call("CANCEL", task.Id); // leave nothing waiting behind for the next run
        }

        private ModelTask? Pick(int pick) => pick < 0 || _tasks.Count == 0 ? null : _tasks[pick % _tasks.Count];

        private void Apply(Op op, string context)
        {
            switch (op)
            {
                case SubmitExternal s:
                {
                    List<string> words = ["SUBMIT", "external", "QUEUE", QueueName(s.Queue), "PRIORITY", s.Priority.ToString(CultureInfo.InvariantCulture)];
                    if (s.Delayed)
                        words.AddRange(["DELAY", "3600000"]);
                    if (s.Key is { } key)
                        words.AddRange(["KEY", KeyName(key)]);
                    words.AddRange(["ARGS", "payload"]);
                    string id = SubmitId(words, context);
                    if (s.Key is { } k && _keyOwner.TryGetValue(k, out string? owner))
                    {
                        Assert.True(owner == id, $"{context}: KEY {KeyName(k)} held by unfinished {owner}, SUBMIT gave {id}");
                        break;
                    }
                    Assert.DoesNotContain(_tasks, t => t.Id == id);
                    _tasks.Add(new ModelTask(id, s.Queue, "external", s.Priority, s.Key is { } n ? KeyName(n) : null,
                        s.Delayed ? ModelState.Scheduled : ModelState.Queued));
                    if (s.Key is { } held)
                        _keyOwner[held] = id;
                    break;
                }
                case SubmitFail f:
                {
                    string id = SubmitId(["SUBMIT", "fail", "QUEUE", QueueName(f.Queue), "PRIORITY", f.Priority.ToString(CultureInfo.InvariantCulture),
                        "RETRIES", "0", "ARGS", "modelled"], context);
                    var task = new ModelTask(id, f.Queue, "fail", f.Priority, null, ModelState.Queued);
                    _tasks.Add(task);
                    if (!_paused[f.Queue])
                        RunToFinish([task], context);
                    break;
                }
                case SubmitEcho e:
                {
                    List<string> words = ["SUBMIT", "echo", "QUEUE", QueueName(e.Queue), "PRIORITY", e.Priority.ToString(CultureInfo.InvariantCulture)];
                    if (e.Key is { } key)
                        words.AddRange(["KEY", KeyName(key)]);
                    words.AddRange(["ARGS", "payload"]);
                    string id = SubmitId(words, context);
                    if (e.Key is { } k && _keyOwner.TryGetValue(k, out string? owner))
                    {
                        Assert.True(owner == id, $"{context}: KEY {KeyName(k)} held by unfinished {owner}, SUBMIT gave {id}");
                        break;
                    }
                    var task = new ModelTask(id, e.Queue, "echo", e.Priority, e.Key is { } n ? KeyName(n) : null, ModelState.Queued);
                    _tasks.Add(task);
                    if (e.Key is { } held)
                        _keyOwner[held] = id;
                    if (!_paused[e.Queue])
                        RunToFinish([task], context);
                    break;
                }
                case Cancel c:
                {
                    ModelTask? task = Pick(c.Pick);
                    string reply = client.Call("CANCEL", task?.Id ?? $"{prefix}-unknown");
                    if (task is null || task.Dropped)
                        AssertNil(reply, context);
                    else if (task.State is ModelState.Queued or ModelState.Scheduled)
                    {
                        Assert.True(reply == ":1\r\n", $"{context}: CANCEL of a {task.State} task answered {Show(reply)}");
                        task.State = ModelState.Cancelled;
                        ReleaseKey(task);
                    }
                    else
                        Assert.True(reply == ":0\r\n", $"{context}: CANCEL of a {task.State} task answered {Show(reply)}");
                    break;
                }
                case Pause p:
                    Assert.Equal("+OK\r\n", client.Call("QUEUE", "PAUSE", QueueName(p.Queue)));
                    _paused[p.Queue] = true;
                    break;
                case Resume r:
                    Assert.Equal("+OK\r\n", client.Call("QUEUE", "RESUME", QueueName(r.Queue)));
                    _paused[r.Queue] = false;
                    RunToFinish([.. _tasks.Where(t => t.Queue == r.Queue && t.Task != "external" && t.State == ModelState.Queued)], context);
                    break;
                case DeadRetry d:
                {
                    ModelTask? task = Pick(d.Pick);
                    string reply = client.Call("DEAD", "RETRY", task?.Id ?? $"{prefix}-unknown");
                    if (task is { Dropped: false, State: ModelState.Failed })
                    {
                        Assert.True(reply == ":1\r\n", $"{context}: DEAD RETRY of a failed task answered {Show(reply)}");
                        task.State = ModelState.Queued;
                        task.Attempt = 0;
                        if (!_paused[task.Queue])
                            RunToFinish([task], context);
                    }
                    else
                        Assert.True(reply == ":0\r\n", $"{context}: DEAD RETRY of {Describe(task)} answered {Show(reply)}");
                    break;
                }
                case DeadDrop d:
                {
                    ModelTask? task = Pick(d.Pick);
                    string reply = client.Call("DEAD", "DROP", task?.Id ?? $"{prefix}-unknown");
                    if (task is { Dropped: false, State: ModelState.Failed })
                    {
                        Assert.True(reply == ":1\r\n", $"{context}: DEAD DROP of a failed task answered {Show(reply)}");
                        task.Dropped = true;
                    }
                    else
                        Assert.True(reply == ":0\r\n", $"{context}: DEAD DROP of {Describe(task)} answered {Show(reply)}");
                    break;
                }
                case Status s:
                    if (Pick(s.Pick) is null)
                        AssertNil(client.Call("STATUS", $"{prefix}-unknown"), context);
                    break; // known ones are checked by Verify after every step
            }
        }

        private static string Describe(ModelTask? task) => task is null ? "an unknown id" : task.Dropped ? "a dropped task" : $"a {task.State} task";

        private string SubmitId(List<string> words, string context)
        {
            string raw = client.Call([.. words]);
            Assert.True(raw.StartsWith('$') && !IsNil(raw), $"{context}: {string.Join(' ', words)} answered {Show(raw)}");
            return Parse(raw).Text!;
        }

        private void RunToFinish(IReadOnlyList<ModelTask> tasks, string context)
        {
            if (tasks.Count == 0)
                return;
            long finished = client.Wait([.. tasks.Select(t => t.Id)]);
            Assert.True(finished == tasks.Count, $"{context}: WAIT saw {finished} of {tasks.Count} tasks finish");
            foreach (ModelTask task in tasks)
            {
                task.State = task.Task == "fail" ? ModelState.Failed : ModelState.Succeeded;
                task.Attempt = 1;
                ReleaseKey(task);
            }
        }

        private void ReleaseKey(ModelTask task)
        {
            foreach (var (key, owner) in _keyOwner.ToArray())
                if (owner == task.Id)
                    _keyOwner.Remove(key);
        }

        private void Verify(string context)
        {
            foreach (ModelTask task in _tasks)
            {
                TaskStatusInfo? status = client.Status(task.Id);
                if (task.Dropped)
                {
                    Assert.True(status is null, $"{context}: dropped task {task.Id} still has a STATUS: {status}");
                    continue;
                }
                Assert.True(status is not null, $"{context}: STATUS {task.Id} is nil, the model has it {task.State}");
                TaskState expected = task.State switch
                {
                    ModelState.Scheduled => TaskState.Scheduled,
                    ModelState.Queued => TaskState.Queued,
                    ModelState.Failed => TaskState.Failed,
                    ModelState.Succeeded => TaskState.Succeeded,
                    _ => TaskState.Cancelled,
                };
                Assert.True(status.State == expected, $"{context}: task {task.Id} ({task.Task} in q{task.Queue}) is {status.State}, the model says {expected}");
                Assert.True((status.Task, status.Queue, status.Priority) == (task.Task, QueueName(task.Queue), task.Priority),
                    $"{context}: task {task.Id} reads {status}");
                if (task.State != ModelState.Cancelled)
                    Assert.True(status.Attempt == task.Attempt, $"{context}: task {task.Id} attempt {status.Attempt}, the model says {task.Attempt}");
                if (task.State == ModelState.Failed)
                    Assert.True(status.Error == "modelled", $"{context}: failed task {task.Id} error '{status.Error}'");
                string result = client.Call("RESULT", task.Id);
                string expectedResult = task.State switch
                {
                    ModelState.Scheduled => "-PENDING scheduled\r\n",
                    ModelState.Queued => "-PENDING queued\r\n",
                    ModelState.Failed => "-FAILED modelled\r\n",
                    ModelState.Succeeded => Bulk("payload"),
                    _ => "-CANCELLED\r\n",
                };
                Assert.True(result == expectedResult, $"{context}: RESULT {task.Id} answered {Show(result)}, expected {Show(expectedResult)}");
            }

            var queues = client.Queues();
            for (int q = 0; q < QueueCount; q++)
            {
                var live = _tasks.Where(t => t.Queue == q && !t.Dropped).ToList();
                (long Queued, long Running, long Scheduled, long Paused) expected =
                    (live.Count(t => t.State == ModelState.Queued), 0, live.Count(t => t.State == ModelState.Scheduled), _paused[q] ? 1 : 0);
                bool known = queues.TryGetValue(QueueName(q), out var row);
                if (!known)
                    Assert.True(expected == (0, 0, 0, 0), $"{context}: QUEUES lacks {QueueName(q)}, the model has {expected}");
                else
                    Assert.True(row == expected, $"{context}: QUEUES {QueueName(q)} is {row}, the model says {expected}");

                string[] dead = [.. client.DeadList("QUEUE", QueueName(q), "COUNT", "1000").Order(StringComparer.Ordinal)];
                string[] modelDead = [.. live.Where(t => t.State == ModelState.Failed).Select(t => t.Id).Order(StringComparer.Ordinal)];
                Assert.True(dead.SequenceEqual(modelDead), $"{context}: DEAD LIST {QueueName(q)} is [{string.Join(", ", dead)}], the model says [{string.Join(", ", modelDead)}]");
            }
        }
    }
}
