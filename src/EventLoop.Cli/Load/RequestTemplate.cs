using System.Buffers;
using System.Text;
using EventLoop.Client;

namespace EventLoop.Cli.Load;

/// <summary>
/// The command of a run, encoded once as RESP. <c>{payload}</c> becomes a run of 'x';
/// <c>{key}</c> becomes fixed-width digits, so a new random key is written in place without
/// changing the request's length. Immutable; each load thread makes its own <see cref="RequestBatch"/>.
/// </summary>
internal sealed class RequestTemplate
{
    private const string KeyPlaceholder = "{key}";
    private const string PayloadPlaceholder = "{payload}";

    private RequestTemplate(byte[] bytes, int[] keyOffsets, int keyWidth, int keyspace, string commandLine)
    {
        Bytes = bytes;
        KeyOffsets = keyOffsets;
        KeyWidth = keyWidth;
        Keyspace = keyspace;
        CommandLine = commandLine;
    }

    /// <summary>One encoded request.</summary>
    public byte[] Bytes { get; }

    /// <summary>Where each <c>{key}</c>'s digits start in <see cref="Bytes"/>.</summary>
    public int[] KeyOffsets { get; }

    /// <summary>Digits per key: enough for <c>Keyspace - 1</c>.</summary>
    public int KeyWidth { get; }

    /// <summary>Keys are drawn from 0 .. Keyspace-1.</summary>
    public int Keyspace { get; }

    /// <summary>The command line as given, placeholders included.</summary>
    public string CommandLine { get; }

    /// <summary>Encodes <paramref name="commandLine"/>; throws <see cref="FormatException"/> when it has no command.</summary>
    public static RequestTemplate Parse(string commandLine, int payloadBytes, int keyspace)
    {
        List<string> words = SplitWords(commandLine);
        if (words.Count == 0)
            throw new FormatException("--command: empty");
        int keyWidth = (keyspace - 1).ToString(System.Globalization.CultureInfo.InvariantCulture).Length;
        string payload = new('x', payloadBytes);
        string zeros = new('0', keyWidth);
        var writer = new ArrayBufferWriter<byte>();
        var keyOffsets = new List<int>();
        RespRequestEncoder.WriteArrayHeader(writer, words.Count);
        foreach (string word in words)
        {
            string[] keyParts = word.Replace(PayloadPlaceholder, payload, StringComparison.Ordinal)
                .Split(KeyPlaceholder);
            byte[] argument = Encoding.UTF8.GetBytes(string.Join(zeros, keyParts));
            RespRequestEncoder.WriteBulkString(writer, argument);
            int argumentStart = writer.WrittenCount - 2 - argument.Length;
            AddKeyOffsets(keyOffsets, keyParts, argumentStart, keyWidth);
        }
        return new RequestTemplate(writer.WrittenSpan.ToArray(), [.. keyOffsets], keyWidth, keyspace, commandLine);
    }

    private static void AddKeyOffsets(List<int> offsets, string[] keyParts, int argumentStart, int keyWidth)
    {
        int position = argumentStart;
        for (int i = 0; i < keyParts.Length - 1; i++)
        {
            position += Encoding.UTF8.GetByteCount(keyParts[i]);
            offsets.Add(position);
            position += keyWidth;
        }
    }

    /// <summary>Splits a command line into words; "double" or 'single' quotes keep spaces inside a word.</summary>
    internal static List<string> SplitWords(string line)
    {
        var words = new List<string>();
        var word = new StringBuilder();
        bool inWord = false;
        char quote = '\0';
        foreach (char ch in line)
        {
            if (quote != '\0')
            {
                if (ch == quote) quote = '\0';
                else word.Append(ch);
            }
            else if (ch is '"' or '\'')
            {
                quote = ch;
                inWord = true;
            }
            else if (char.IsWhiteSpace(ch))
            {
                if (inWord) words.Add(word.ToString());
                word.Clear();
                inWord = false;
            }
            else
            {
                word.Append(ch);
                inWord = true;
            }
        }
        if (quote != '\0')
            throw new FormatException($"--command: unclosed {quote} quote");
        if (inWord)
            words.Add(word.ToString());
        return words;
    }
}

/// <summary>
/// A load thread's send buffer: the template repeated pipeline-depth times, so a batch of
/// <c>n</c> requests is one contiguous span and one send. Owned by one load thread.
/// </summary>
internal sealed class RequestBatch
{
    private readonly RequestTemplate _template;
    private readonly byte[] _bytes;
    private readonly Random _random = new();

    public RequestBatch(RequestTemplate template, int capacity)
    {
        _template = template;
        _bytes = new byte[template.Bytes.Length * capacity];
        for (int i = 0; i < capacity; i++)
            template.Bytes.CopyTo(_bytes, i * template.Bytes.Length);
    }

    /// <summary>Bytes per request.</summary>
    public int RequestLength => _template.Bytes.Length;

    /// <summary>The first <paramref name="count"/> requests, each with fresh random keys.</summary>
    public ReadOnlySpan<byte> Prepare(int count)
    {
        int length = count * RequestLength;
        if (_template.KeyOffsets.Length > 0)
            for (int request = 0; request < count; request++)
                foreach (int offset in _template.KeyOffsets)
                    WriteDigits(_bytes.AsSpan(request * RequestLength + offset, _template.KeyWidth), _random.Next(_template.Keyspace));
        return _bytes.AsSpan(0, length);
    }

    /// <summary>
    /// Bytes <paramref name="start"/>..<paramref name="end"/> of a batch whose first part was sent:
    /// the copies differ only in key digits, so the rest is still valid RESP (its key may be another random key).
    /// </summary>
    public ReadOnlySpan<byte> Remainder(int start, int end) => _bytes.AsSpan(start, end - start);

    private static void WriteDigits(Span<byte> digits, int value)
    {
        for (int i = digits.Length - 1; i >= 0; i--)
        {
            digits[i] = (byte)('0' + value % 10);
            value /= 10;
        }
    }
}
