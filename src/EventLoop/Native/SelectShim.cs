using System.Runtime.InteropServices;
using EventLoop.Multiplexing;

namespace EventLoop.Native;

/// <summary>
/// P/Invoke into <c>libel_select.so</c> (native/select_shim.c), where the fd_set macros live.
/// </summary>
/// <remarks>
/// The library is found by a resolver registered for this assembly: next to the program first
/// (the build copies it there), then in <c>artifacts/native/</c> of the nearest enclosing repository
/// checkout, so tests and <c>dotnet run</c> work straight after <c>./build.sh</c>. Loading is
/// thread-safe; the calls themselves are as thread-safe as select(2).
/// </remarks>
internal static unsafe partial class SelectShim
{
    private const string LibraryName = "el_select";
    private const string FileName = "libel_select.so";
    private static readonly Lock s_loadLock = new();
    private static IntPtr s_handle;

    static SelectShim() => NativeLibrary.SetDllImportResolver(typeof(SelectShim).Assembly, Resolve);

    /// <summary>
    /// select(2) over dense arrays: <paramref name="interest"/> and <paramref name="ready"/> hold one
    /// byte per descriptor (1 = read, 2 = write). Returns how many descriptors are ready, 0 on timeout
    /// or EINTR (then <paramref name="ready"/> is untouched), or -errno (-EINVAL for a descriptor
    /// outside [0, FD_SETSIZE)).
    /// </summary>
    [LibraryImport(LibraryName, EntryPoint = "el_select_wait")]
    public static partial int Wait(int* fds, byte* interest, int count, int timeoutMs, byte* ready);

    /// <summary>The C library's FD_SETSIZE (1024 on glibc).</summary>
    /// <remarks>No SuppressGCTransition here: it makes the JIT bind the import when compiling the
    /// caller, before <see cref="EnsureLoaded"/> has run, and a missing library then surfaces as a
    /// bare DllNotFoundException.</remarks>
    [LibraryImport(LibraryName, EntryPoint = "el_select_fd_setsize")]
    public static partial int FdSetSize();

    /// <summary>Loads the library now, so that a missing build is reported clearly rather than as a DllNotFoundException.</summary>
    /// <exception cref="MultiplexerException">The library is in none of the places searched.</exception>
    public static void EnsureLoaded()
    {
        if (TryLoad() == IntPtr.Zero)
            throw new MultiplexerException(
                $"{FileName} was found neither in {AppContext.BaseDirectory} nor in artifacts/native/ above it: build native/ with ./build.sh");
    }

    private static IntPtr Resolve(string name, System.Reflection.Assembly assembly, DllImportSearchPath? searchPath) =>
        name == LibraryName ? TryLoad() : IntPtr.Zero;

    private static IntPtr TryLoad()
    {
        lock (s_loadLock)
        {
            if (s_handle != IntPtr.Zero)
                return s_handle;
            foreach (string path in CandidatePaths())
                if (File.Exists(path) && NativeLibrary.TryLoad(path, out s_handle))
                    break;
            return s_handle;
        }
    }

    private static IEnumerable<string> CandidatePaths()
    {
        yield return Path.Combine(AppContext.BaseDirectory, FileName);
        for (DirectoryInfo? dir = new(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            yield return Path.Combine(dir.FullName, "artifacts", "native", FileName);
    }
}
