namespace EventLoop.Tests.Fuzz;

/// <summary>
/// The seed corpus: <c>tests/fuzz/corpus/*.resp</c>, one frame or pipeline per file, copied beside the test
/// assembly under <c>fuzz-corpus/</c>. Immutable once loaded.
/// </summary>
internal static class FuzzCorpus
{
    private static readonly string CorpusDirectory = Path.Combine(AppContext.BaseDirectory, "fuzz-corpus");

    /// <summary>Every entry by file name, in name order.</summary>
    public static IReadOnlyDictionary<string, byte[]> Entries { get; } = Load();

    /// <summary>The entries' bytes, for generators that pick one.</summary>
    public static byte[][] Seeds { get; } = [.. Entries.Values];

    private static SortedDictionary<string, byte[]> Load()
    {
        if (!Directory.Exists(CorpusDirectory))
            throw new DirectoryNotFoundException($"{CorpusDirectory} is missing: the test project copies tests/fuzz/corpus there");
        var entries = new SortedDictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (string path in Directory.GetFiles(CorpusDirectory, "*.resp", SearchOption.AllDirectories))
            entries.Add(Path.GetRelativePath(CorpusDirectory, path), File.ReadAllBytes(path));
        return entries;
    }
}
