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
