namespace EventLoop.Client;

/// <summary>The kinds of RESP2 reply.</summary>
public enum RespKind : byte
{
    /// <summary>A simple string (<c>+OK</c>).</summary>
    SimpleString,
    /// <summary>An error reply (<c>-ERR message</c>).</summary>
    Error,
    /// <summary>An integer (<c>:42</c>).</summary>
    Integer,
    /// <summary>A bulk string (<c>$3\r\nabc</c>).</summary>
    BulkString,
    /// <summary>An array of replies (<c>*2\r\n…</c>).</summary>
    Array,
    /// <summary>The null bulk string (<c>$-1</c>) or null array (<c>*-1</c>).</summary>
    Null,
}

/// <summary>What <see cref="RespReplyReader.Read"/> found.</summary>
public enum RespReadStatus : byte
{
    /// <summary>One whole reply ended inside the input.</summary>
    Complete,
    /// <summary>The input ended inside a reply (or before one began); all of it was consumed.</summary>
    Incomplete,
    /// <summary>The input is not RESP2: the stream cannot be trusted any further.</summary>
    Malformed,
}
