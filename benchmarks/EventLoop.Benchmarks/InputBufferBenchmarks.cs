using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using BenchmarkDotNet.Attributes;
using EventLoop.Buffers;
using EventLoop.Protocol;

namespace EventLoop.Benchmarks;

/// <summary>
/// Connection input buffering: the reactor's way (<see cref="PooledBuffer"/>) against a
/// <see cref="Pipe"/> per connection, for one connection receiving a stream of pipelined requests in
/// 4 KiB chunks cut wherever they fall. A chunk copy stands for read(2), so both sides pay the same
/// "kernel" copy; what differs is where the bytes land, what is copied again, and the bookkeeping.
/// One invocation takes the whole stream (94 KB for 1,000 small requests, 4 MiB for 16 large ones).
/// </summary>
/// <remarks>
/// <para>Reactor: read into one shared buffer, parse requests in place, copy only an incomplete tail into
/// the connection's <see cref="PooledBuffer"/>; while a tail is carried, read straight after it (sized
/// by the parser's hint); release the array once the buffer is empty. This mirrors
/// <c>ReactorLoop.ReadFrom</c>, <c>ReadTarget</c>, <c>Consume</c> and <c>ParseCarriedInput</c>.</para>
/// <para>Pipe: <c>GetMemory</c>, copy, <c>Advance</c>, <c>FlushAsync</c> (synchronous: inline schedulers,
/// no pause threshold, as a reactor-driven pipe must be), <c>TryRead</c>, parse, <c>AdvanceTo(consumed,
/// examined)</c>. The parser takes spans, so requests inside one segment are parsed in place and only a
/// request straddling segments is copied (linearised) into a shared scratch buffer, grown by the
/// parser's hint; a large request is not parsed again until the pipe holds the bytes the hint asked for.</para>
/// Run: <c>./build.sh bench --filter '*InputBuffer*'</c>. GlobalSetup prints the memory one connection
/// holds with each approach (<c>// held:</c> lines in the log).
/// </remarks>
[MemoryDiagnoser]
public class InputBufferBenchmarks
{
    private const int ChunkSize = 4096;
    // The reactor's constants (ReactorLoop.ReadBufferSize and its quarter as the smallest carried read).
    private const int SharedReadBufferSize = 64 * 1024;
    private const int SmallestCarriedRead = SharedReadBufferSize / 4;
    // Kestrel's socket transport asks the pipe for at least half a 4 KiB block per read.
    private const int PipeReadSizeHint = 2048;

    private readonly RespRequestParser _parser = new(new ProtocolLimits());
    private readonly byte[] _sharedReadBuffer = new byte[SharedReadBufferSize];
    private readonly PooledBuffer _input = new();
    private int _inputNeeded;
    private readonly PooledBuffer _linearised = new();
    private Pipe _pipe = null!;
    private int _pipeNeeded;
    private byte[] _stream = [];
    private int _expectedRequests;

    /// <summary>The request stream one connection receives.</summary>
    public enum Traffic
    {
        /// <summary>1,000 <c>RUN echo</c> with a 64-byte argument (94 bytes each).</summary>
        SmallRequests,
        /// <summary>16 <c>RUN echo</c> with a 256 KiB argument.</summary>
        LargeArguments,
    }

    /// <summary>Which stream this run receives.</summary>
    [Params(Traffic.SmallRequests, Traffic.LargeArguments)]
    public Traffic Stream { get; set; }

    /// <summary>Builds the stream, the pipe, and checks that both approaches see every request.</summary>
    [GlobalSetup]
    public void Setup()
    {
        (int count, int argumentBytes) = Stream == Traffic.SmallRequests ? (1000, 64) : (16, 256 * 1024);
        string argument = new('x', argumentBytes);
        _stream = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat($"*3\r\n$3\r\nRUN\r\n$4\r\necho\r\n${argumentBytes}\r\n{argument}\r\n", count)));
        _expectedRequests = count;
        _pipe = NewConnectionPipe();
        Check(ReactorBuffer(), nameof(ReactorBuffer));
        Check(PipePerConnection(), nameof(PipePerConnection));
        HeldMemory.Print();
    }

    /// <summary>The reactor's way: shared read buffer, parse in place, carry only an incomplete tail.</summary>
    [Benchmark(Baseline = true)]
    public long ReactorBuffer()
    {
        long digest = 0;
        for (int offset = 0; offset < _stream.Length;)
        {
            int available = Math.Min(ChunkSize, _stream.Length - offset);
            while (available > 0)
            {
                bool shared = _input.Length == 0;
                Span<byte> target = shared
                    ? _sharedReadBuffer
                    : _input.GetSpan(Math.Max(SmallestCarriedRead, _inputNeeded - _input.Length));
                int n = Math.Min(available, target.Length);
                _stream.AsSpan(offset, n).CopyTo(target); // read(2)
                offset += n;
                available -= n;
                if (shared)
                    ConsumeShared(target[..n], ref digest);
                else
                    ConsumeCarried(n, ref digest);
            }
        }
        return digest;
    }

    /// <summary>A <see cref="Pipe"/> per connection, read synchronously by the reactor after each read.</summary>
    [Benchmark]
    public long PipePerConnection()
    {
        long digest = 0;
        PipeWriter writer = _pipe.Writer;
        for (int offset = 0; offset < _stream.Length;)
        {
            int available = Math.Min(ChunkSize, _stream.Length - offset);
            while (available > 0)
            {
                Memory<byte> target = writer.GetMemory(PipeReadSizeHint);
                int n = Math.Min(available, target.Length);
                _stream.AsSpan(offset, n).CopyTo(target.Span); // read(2)
                offset += n;
                available -= n;
                writer.Advance(n);
                ValueTask<FlushResult> flush = writer.FlushAsync();
                if (!flush.IsCompletedSuccessfully)
                    throw new InvalidOperationException("a reactor-driven pipe must flush synchronously");
                ParsePipe(ref digest);
            }
        }
        return digest;
    }

    // ------------------------------------------------------------ reactor side

    private void ConsumeShared(ReadOnlySpan<byte> data, ref long digest)
    {
        int consumed = ParseAll(data, ref digest, out _inputNeeded);
        if (consumed < data.Length)
            _input.Write(data[consumed..]);
    }

    private void ConsumeCarried(int n, ref long digest)
    {
        _input.Advance(n);
        if (_input.Length < _inputNeeded)
            return;
        _input.Consume(ParseAll(_input.WrittenSpan, ref digest, out _inputNeeded));
        if (_input.Length == 0)
            _input.Release();
    }

    // ------------------------------------------------------------ pipe side

    private void ParsePipe(ref long digest)
    {
        PipeReader reader = _pipe.Reader;
        if (!reader.TryRead(out ReadResult result))
            throw new InvalidOperationException("the pipe should hold the bytes just flushed");
        ReadOnlySequence<byte> buffer = result.Buffer;
        SequencePosition consumed = buffer.Length < _pipeNeeded ? buffer.Start : ParseSequence(buffer, ref digest);
        reader.AdvanceTo(consumed, buffer.End);
    }

    /// <summary>Parses segment by segment in place; only a request that straddles segments is copied.</summary>
    private SequencePosition ParseSequence(ReadOnlySequence<byte> buffer, ref long digest)
    {
        _pipeNeeded = 0;
        while (true)
        {
            ReadOnlySpan<byte> segment = buffer.FirstSpan;
            int parsed = ParseAll(segment, ref digest, out int needed);
            if (parsed == segment.Length && !buffer.IsSingleSegment)
            {
                buffer = buffer.Slice(parsed);
                continue;
            }
            if (buffer.IsSingleSegment || needed == 0)
            {
                _pipeNeeded = needed;
                return buffer.GetPosition(parsed);
            }
            ReadOnlySequence<byte> straddling = buffer.Slice(parsed);
            int length = ParseLinearised(straddling, needed, ref digest);
            if (length == 0)
                return straddling.Start;
            buffer = straddling.Slice(length);
        }
    }

    /// <summary>
    /// Copies the request at the start of <paramref name="sequence"/> into one span, as far as the parser's
    /// hint asks, and parses it; returns its length, or 0 (and the bytes needed) when it is incomplete.
    /// </summary>
    private int ParseLinearised(ReadOnlySequence<byte> sequence, int needed, ref long digest)
    {
        _linearised.Clear();
        while (sequence.Length >= needed)
        {
            ReadOnlySequence<byte> more = sequence.Slice(_linearised.Length, needed - _linearised.Length);
            more.CopyTo(_linearised.GetSpan((int)more.Length));
            _linearised.Advance((int)more.Length);
            ParseStatus status = _parser.TryParse(_linearised.WrittenSpan, out RespCommand command, out int consumed);
            if (status == ParseStatus.Complete)
            {
                digest += Touch(command);
                return consumed;
            }
            if (status == ParseStatus.Error)
                throw new InvalidOperationException(_parser.ErrorMessage);
            needed = _parser.MinimumBytes;
        }
        _pipeNeeded = needed;
        return 0;
    }

    // ------------------------------------------------------------ shared by both

    /// <summary>Parses every complete request of <paramref name="data"/>; returns the bytes used and the parser's hint.</summary>
    private int ParseAll(ReadOnlySpan<byte> data, ref long digest, out int needed)
    {
        int offset = 0;
        needed = 0;
        while (offset < data.Length)
        {
            ParseStatus status = _parser.TryParse(data[offset..], out RespCommand command, out int consumed);
            if (status == ParseStatus.Incomplete)
            {
                needed = _parser.MinimumBytes;
                break;
            }
            if (status == ParseStatus.Error)
                throw new InvalidOperationException(_parser.ErrorMessage);
            digest += Touch(command);
            offset += consumed;
        }
        return offset;
    }

    /// <summary>What a dispatcher would look at: the name and the last argument's length. Summed as 1 + length.</summary>
    private static long Touch(in RespCommand command) =>
        command.Is(0, "RUN"u8) ? 1 + command[command.Count - 1].Length : 0;

    private void Check(long digest, string approach)
    {
        long argumentBytes = Stream == Traffic.SmallRequests ? 64 : 256 * 1024;
        if (digest != _expectedRequests * (1 + argumentBytes) || _input.HoldsMemory)
            throw new InvalidOperationException($"{approach} did not parse the stream exactly once and end empty");
    }

    // Inline schedulers and no pause threshold: the reactor thread writes and reads the pipe itself, so
    // FlushAsync must complete at once (a large request must not pause the writer before it is whole).
    private static readonly PipeOptions ConnectionPipeOptions = new(
        readerScheduler: PipeScheduler.Inline,
        writerScheduler: PipeScheduler.Inline,
        pauseWriterThreshold: 0,
        resumeWriterThreshold: 0,
        useSynchronizationContext: false);

    private static Pipe NewConnectionPipe() => new(ConnectionPipeOptions);

    /// <summary>Measures what one connection's input buffering holds, managed objects and pooled arrays alike.</summary>
    private static class HeldMemory
    {
        private const int PartialRequestBytes = 100;
        private const int Instances = 100;

        public static void Print()
        {
            byte[] partial = new byte[PartialRequestBytes];
            long arrayHeader = AllocatedBy(() => new byte[0]);

            long bufferIdle = AllocatedBy(() => new PooledBuffer());
            var buffer = new PooledBuffer();
            buffer.Write(partial);
            int rented = buffer.Capacity;
            long bufferPartial = bufferIdle + arrayHeader + rented;
            buffer.Release();

            long pipeNew = AllocatedBy(NewConnectionPipe);
            // After a whole request was consumed the pipe keeps its segment object for reuse, the array goes back to the pool.
            long pipeAfterRequest = AllocatedBy(() => DrainedPipe(partial));
            long segment = SegmentBytes(PipeHolding(partial));
            long pipePartial = pipeAfterRequest + arrayHeader + segment;

            Console.WriteLine($"// held: PooledBuffer idle {bufferIdle} B, with a {PartialRequestBytes}-byte partial request {bufferPartial} B ({rented} B rented array)");
            Console.WriteLine($"// held: Pipe new {pipeNew} B, idle after a request {pipeAfterRequest} B (it keeps its segment object), " +
                              $"with a {PartialRequestBytes}-byte partial request {pipePartial} B (segment of {segment} B)");
        }

        /// <summary>A pipe holding <paramref name="partial"/>, read and examined but not consumed: a request still incomplete.</summary>
        private static Pipe PipeHolding(byte[] partial) => Received(partial, consume: false);

        /// <summary>A pipe that received <paramref name="request"/> and consumed it whole: idle again.</summary>
        private static Pipe DrainedPipe(byte[] request) => Received(request, consume: true);

        private static Pipe Received(byte[] bytes, bool consume)
        {
            Pipe pipe = NewConnectionPipe();
            pipe.Writer.Write(bytes);
            pipe.Writer.FlushAsync().GetAwaiter().GetResult();
            pipe.Reader.TryRead(out ReadResult result);
            pipe.Reader.AdvanceTo(consume ? result.Buffer.End : result.Buffer.Start, result.Buffer.End);
            return pipe;
        }

        /// <summary>The segment holding the partial request: its bytes plus what GetMemory still offers in it.</summary>
        private static long SegmentBytes(Pipe pipe) => PartialRequestBytes + pipe.Writer.GetMemory(1).Length;

        /// <summary>Bytes allocated per instance, averaged over instances kept alive together (after one for warm-up).</summary>
        private static long AllocatedBy<T>(Func<T> create)
        {
            create();
            var kept = new T[Instances];
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < kept.Length; i++)
                kept[i] = create();
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            GC.KeepAlive(kept);
            return allocated / Instances;
        }
    }
}
