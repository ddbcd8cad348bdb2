using System.Globalization;
using System.Text;

namespace EventLoop.Client;

/// <summary>An immutable RESP2 reply: simple string, error, integer, bulk string, null, or array.</summary>
public sealed class RespValue
{
    private static readonly RespValue[] NoElements = [];

    private readonly string? _text;
    private readonly long _integer;
    private readonly ReadOnlyMemory<byte> _bytes;
    private readonly RespValue[] _elements;

    private RespValue(RespKind kind, string? text = null, long integer = 0, ReadOnlyMemory<byte> bytes = default,
        RespValue[]? elements = null)
    {
        Kind = kind;
        _text = text;
        _integer = integer;
        _bytes = bytes;
        _elements = elements ?? NoElements;
    }

    /// <summary>The null reply (<c>$-1</c> or <c>*-1</c>: RESP2 does not tell them apart usefully).</summary>
    public static RespValue Null { get; } = new(RespKind.Null);

    /// <summary>A simple string reply such as <c>OK</c>.</summary>
    public static RespValue SimpleString(string text) => new(RespKind.SimpleString, text);

    /// <summary>An error reply; <paramref name="message"/> includes its prefix (<c>ERR …</c>).</summary>
    public static RespValue Error(string message) => new(RespKind.Error, message);

    /// <summary>An integer reply.</summary>
    public static RespValue Integer(long value) => new(RespKind.Integer, integer: value);

    /// <summary>A bulk string reply holding <paramref name="bytes"/> (not copied).</summary>
    public static RespValue BulkString(ReadOnlyMemory<byte> bytes) => new(RespKind.BulkString, bytes: bytes);

    /// <summary>An array reply holding <paramref name="elements"/> (copied).</summary>
    public static RespValue Array(params ReadOnlySpan<RespValue> elements) =>
        new(RespKind.Array, elements: elements.ToArray());

    /// <summary>An array reply that takes ownership of <paramref name="elements"/> (the parser's, built for it alone).</summary>
    internal static RespValue ArrayOwning(RespValue[] elements) => new(RespKind.Array, elements: elements);

    /// <summary>What kind of reply this is.</summary>
    public RespKind Kind { get; }

    /// <summary>True for an error reply.</summary>
    public bool IsError => Kind == RespKind.Error;

    /// <summary>True for the null reply.</summary>
    public bool IsNull => Kind == RespKind.Null;

    /// <summary>
    /// The reply as text: the string of a simple string or error, a bulk string decoded as UTF-8,
    /// an integer in invariant digits; null for null and arrays.
    /// </summary>
    public string? Text => Kind switch
    {
        RespKind.SimpleString or RespKind.Error => _text,
        RespKind.BulkString => Encoding.UTF8.GetString(_bytes.Span),
        RespKind.Integer => _integer.ToString(CultureInfo.InvariantCulture),
        _ => null,
    };

    /// <summary>The value of an integer reply.</summary>
    /// <exception cref="InvalidOperationException">The reply is not an integer.</exception>
    public long IntegerValue => Kind == RespKind.Integer ? _integer : throw NotA(RespKind.Integer);

    /// <summary>The payload of a bulk string reply.</summary>
    /// <exception cref="InvalidOperationException">The reply is not a bulk string.</exception>
    public ReadOnlyMemory<byte> Bytes => Kind == RespKind.BulkString ? _bytes : throw NotA(RespKind.BulkString);

    /// <summary>The elements of an array reply; empty for every other kind.</summary>
    public IReadOnlyList<RespValue> Elements => _elements;

    /// <summary>A short readable form for logs and test messages, e.g. <c>+PONG</c>, <c>$3 "abc"</c>.</summary>
    public override string ToString() => Kind switch
    {
        RespKind.SimpleString => "+" + _text,
        RespKind.Error => "-" + _text,
        RespKind.Integer => ":" + Text,
        RespKind.BulkString => $"${_bytes.Length} \"{Text}\"",
        RespKind.Null => "(null)",
        _ => $"*{_elements.Length} [{string.Join(", ", _elements.Select(e => e.ToString()))}]",
    };

    private InvalidOperationException NotA(RespKind expected) =>
        new($"the reply is {Kind} ({this}), not {expected}");
}
