namespace EventLoop.Client;

/// <summary>The server answered a command with an error reply.</summary>
/// <param name="message">The error text as the server sent it, prefix included (<c>ERR unknown command</c>).</param>
public sealed class RespErrorException(string message) : Exception(message)
{
    /// <summary>The error's first word, by convention its kind (<c>ERR</c>, <c>WRONGTYPE</c>, …).</summary>
    public string Prefix => Message.Split(' ', 2)[0];
}

/// <summary>
/// The connection to the server could not be made, was lost, or was closed by <see cref="EventLoopClient.DisposeAsync"/>;
/// the message names the cause, and <see cref="Exception.InnerException"/> holds the underlying error if any.
/// </summary>
public sealed class RespConnectionException : IOException
{
    /// <summary>Creates the exception with the cause in words and, optionally, the error behind it.</summary>
    public RespConnectionException(string message, Exception? innerException = null)
        : base(message, innerException)
    {
    }
}
