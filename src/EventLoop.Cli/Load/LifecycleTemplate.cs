using System.Globalization;
using System.Text;

namespace EventLoop.Cli.Load;

/// <summary>
/// The wire shapes of a task lifecycle (<c>--lifecycle</c>), encoded once per run: the SUBMIT, the two
/// ends of a RESULT around the id the server returned, and the reply an echo of the payload gives.
/// The payload opens with a tag of up to <see cref="MaxTagDigits"/> random digits, fresh for each
/// lifecycle, so a result that belongs to another task does not pass for this one. Immutable; shared
/// by the load threads.
/// </summary>
internal sealed class LifecycleTemplate
{
    /// <summary>Longest id a SUBMIT may return; the server's are decimal numbers, far shorter.</summary>
    public const int MaxIdBytes = 64;

    /// <summary>Digits of the tag: one in a billion is the chance that another task's result passes.</summary>
    public const int MaxTagDigits = 9;

    /// <summary>A SUBMIT's reply holding the longest id: <c>$64\r\n</c>, the id, CRLF.</summary>
    public const int MaxIdReplyBytes = 5 + MaxIdBytes + 2;

    private static readonly byte[] ResultOpening = Encoding.ASCII.GetBytes("*4\r\n$6\r\nRESULT\r\n");

    private readonly byte[] _resultClosing; // $7 TIMEOUT and the milliseconds, as bulk strings

    public LifecycleTemplate(string task, int payloadBytes, TimeSpan resultTimeout)
    {
        TagDigits = Math.Min(MaxTagDigits, payloadBytes);
        // The tag reuses {key}: fixed-width digits written in place, keys drawn below 10^digits.
        string argument = TagDigits > 0 ? "{key}{payload}" : "{payload}";
        Submit = RequestTemplate.Parse($"SUBMIT {task} ARGS {argument}", payloadBytes - TagDigits, (int)Math.Pow(10, TagDigits));
        SubmitTagOffset = TagDigits > 0 ? Submit.KeyOffsets[0] : 0;
        TagSpace = (long)Math.Pow(10, TagDigits);
        TimeoutMilliseconds = Math.Max(1, (long)resultTimeout.TotalMilliseconds);
        string header = $"${payloadBytes}\r\n";
        ExpectedTagOffset = header.Length;
        ExpectedReply = Encoding.ASCII.GetBytes(header + new string('0', TagDigits) + new string('x', payloadBytes - TagDigits) + "\r\n");
        string milliseconds = TimeoutMilliseconds.ToString(CultureInfo.InvariantCulture);
        _resultClosing = Encoding.ASCII.GetBytes($"$7\r\nTIMEOUT\r\n${milliseconds.Length}\r\n{milliseconds}\r\n");
        Description = $"SUBMIT {task} ARGS <{payloadBytes}-byte payload>, then RESULT <id> TIMEOUT {TimeoutMilliseconds}";
    }

    /// <summary>One SUBMIT, its tag all zeros.</summary>
    public RequestTemplate Submit { get; }

    /// <summary>Where the tag's digits start in <see cref="Submit"/>'s bytes.</summary>
    public int SubmitTagOffset { get; }

    /// <summary>Digits of the tag: <see cref="MaxTagDigits"/>, fewer for a shorter payload.</summary>
    public int TagDigits { get; }

    /// <summary>Tags are drawn from 0 .. TagSpace-1.</summary>
    public long TagSpace { get; }

    /// <summary>The RESULT's TIMEOUT, in milliseconds.</summary>
    public long TimeoutMilliseconds { get; }

    /// <summary>The reply of a RESULT whose task echoed the payload, its tag all zeros.</summary>
    public byte[] ExpectedReply { get; }

    /// <summary>Where the tag's digits start in <see cref="ExpectedReply"/>; the bulk header comes before.</summary>
    public int ExpectedTagOffset { get; }

    /// <summary>The lifecycle in words, for the report.</summary>
    public string Description { get; }

    /// <summary>The longest request a lifecycle sends: its SUBMIT, or a RESULT around the longest id.</summary>
    public int MaxRequestBytes => Math.Max(Submit.Bytes.Length, ResultOpening.Length + MaxIdReplyBytes + _resultClosing.Length);

    /// <summary>
    /// Writes <c>RESULT id TIMEOUT ms</c> into <paramref name="target"/>; returns its length. The id goes
    /// in as the SUBMIT's reply brought it, a bulk string already: no parsing, no copy of its own.
    /// </summary>
    public int WriteResult(Span<byte> target, ReadOnlySpan<byte> idBulk)
    {
        ResultOpening.CopyTo(target);
        idBulk.CopyTo(target[ResultOpening.Length..]);
        _resultClosing.CopyTo(target[(ResultOpening.Length + idBulk.Length)..]);
        return ResultOpening.Length + idBulk.Length + _resultClosing.Length;
    }
}
