using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;

namespace EventLoop.Http;

/// <summary>
/// The RESP port's password, over HTTP: <c>Authorization: Basic</c> (any user name, the password) or
/// <c>Authorization: Bearer &lt;password&gt;</c>. Compared in constant time over SHA-256 digests, so
/// neither the content nor the length of the password leaks through timing.
/// </summary>
internal sealed class HttpAuthentication(string? password)
{
    private readonly byte[]? _digest = password is null ? null : SHA256.HashData(Encoding.UTF8.GetBytes(password));

    public bool Required => _digest is not null;

    public bool Allows(HttpRequest request)
    {
        if (_digest is null)
            return true;
        string? header = request.Headers.Authorization;
        if (header is null)
            return false;
        string? given = null;
        if (header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
            given = header[7..].Trim();
        else if (header.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase))
            given = BasicPassword(header[6..].Trim());
        return given is not null
            && CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(given)), _digest);
    }

    private static string? BasicPassword(string encoded)
    {
        Span<byte> decoded = stackalloc byte[Math.Min(encoded.Length, 4096)];
        if (encoded.Length > decoded.Length || !Convert.TryFromBase64String(encoded, decoded, out int length))
            return null;
        string userAndPassword = Encoding.UTF8.GetString(decoded[..length]);
        int colon = userAndPassword.IndexOf(':');
        return colon < 0 ? null : userAndPassword[(colon + 1)..];
    }
}
