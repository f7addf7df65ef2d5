using Microsoft.Extensions.FileProviders;
using Microsoft.Extensions.Primitives;

namespace Gateway.Configuration;

/// <summary>
/// The files of gateway.json's directory, for the configuration source that reloads it; a change to a file of that
/// directory itself is watched, and nothing below it.
/// </summary>
/// <remarks>
/// <see cref="PhysicalFileProvider"/>'s watcher always watches its whole tree (one inotify watch per subdirectory), and
/// the configuration file's directory is usually the working directory: from the repository root that was 617
/// directories, bin/ and obj/ included, and the usage journal (data/usage) below it, so every journal write woke the
/// watcher's thread to be told of a file nobody watches. Polling (<c>DOTNET_USE_POLLING_FILE_WATCHER</c>, as the
/// container sets it) stays <see cref="PhysicalFileProvider"/>'s own: it watches no directory at all.
/// </remarks>
internal sealed class ConfigDirectoryFiles : IFileProvider, IDisposable
{
    private readonly PhysicalFileProvider _files;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, CancellationTokenSource> _changes = new(StringComparer.Ordinal);
    private FileSystemWatcher? _watcher;

    public ConfigDirectoryFiles(string directory) => _files = new PhysicalFileProvider(directory);

    public IFileInfo GetFileInfo(string subpath) => _files.GetFileInfo(subpath);

    public IDirectoryContents GetDirectoryContents(string subpath) => _files.GetDirectoryContents(subpath);

    public IChangeToken Watch(string filter)
    {
        // Polling needs no directory watch; a pattern or a path below the directory is the provider's own business too.
        if (_files.UsePollingFileWatcher || filter.IndexOfAny(['*', '?', '/', '\\']) >= 0)
        {
            return _files.Watch(filter);
        }

        lock (_gate)
        {
            _watcher ??= Start();
            if (!_changes.TryGetValue(filter, out var change))
            {
                change = new CancellationTokenSource();
                _changes[filter] = change;
            }

            return new CancellationChangeToken(change.Token);
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _watcher?.Dispose();
            _watcher = null;
        }

        _files.Dispose();
    }

    private FileSystemWatcher Start()
    {
        var watcher = new FileSystemWatcher(_files.Root)
        {
            IncludeSubdirectories = false,
            NotifyFilter = NotifyFilters.FileName | NotifyFilters.LastWrite | NotifyFilters.Size | NotifyFilters.CreationTime,
        };
        watcher.Changed += (_, e) => Changed(e.Name);
        watcher.Created += (_, e) => Changed(e.Name);
        watcher.Deleted += (_, e) => Changed(e.Name);
        watcher.Renamed += (_, e) =>
        {
            // An editor's save is often a new file renamed over the old one.
            Changed(e.OldName);
            Changed(e.Name);
        };
        // Events were lost (the buffer overflowed): any watched file may have changed, so every one is read again.
        watcher.Error += (_, _) => ChangedAll();
        watcher.EnableRaisingEvents = true;
        return watcher;
    }

    private void Changed(string? name)
    {
        CancellationTokenSource? change;
        lock (_gate)
        {
            // A token fires once; the configuration source asks for a new one from inside Cancel.
            if (name is null || !_changes.Remove(name, out change))
            {
                return;
            }
        }

        change.Cancel();
        StopIfUnwatched();
    }

    private void ChangedAll()
    {
        List<CancellationTokenSource> changes;
        lock (_gate)
        {
            changes = [.. _changes.Values];
            _changes.Clear();
        }

        changes.ForEach(c => c.Cancel());
        StopIfUnwatched();
    }

    /// <summary>
    /// Nobody asked for a new token (the configuration was disposed, or its file deleted with its directory): the
    /// inotify instance is given back, as <see cref="PhysicalFileProvider"/>'s watcher does. A process has few of them
    /// (128 by default, for all of a user's processes), and every gateway a test process starts takes one.
    /// </summary>
    private void StopIfUnwatched()
    {
        FileSystemWatcher? stopped;
        lock (_gate)
        {
            if (_changes.Count > 0 || _watcher is null)
            {
                return;
            }

            stopped = _watcher;
            _watcher = null;
        }

        stopped.Dispose();
    }
}
