using System.Diagnostics;
using System.Globalization;

namespace Gateway.Tests.Infrastructure;

/// <summary>What this process watches through inotify (Linux), read from /proc: the inodes of every watched directory.</summary>
internal static class Inotify
{
    /// <summary>The inode of every directory or file any inotify instance of this process watches.</summary>
    public static HashSet<ulong> WatchedInodes()
    {
        var inodes = new HashSet<ulong>();
        foreach (var fd in Directory.EnumerateFiles("/proc/self/fdinfo"))
        {
            string[] lines;
            try
            {
                lines = File.ReadAllLines(fd);
            }
            catch (IOException)
            {
                continue; // closed while listed
            }

            // "inotify wd:1 ino:a0012 sdev:800021 mask:..." (the inode in hexadecimal)
            foreach (var line in lines.Where(l => l.StartsWith("inotify ", StringComparison.Ordinal)))
            {
                var field = line.Split(' ').First(f => f.StartsWith("ino:", StringComparison.Ordinal));
                inodes.Add(ulong.Parse(field.AsSpan(4), NumberStyles.HexNumber, CultureInfo.InvariantCulture));
            }
        }

        return inodes;
    }

    /// <summary>A path's inode (stat(1): .NET has no API for it).</summary>
    public static ulong InodeOf(string path)
    {
        using var stat = Process.Start(new ProcessStartInfo("stat", ["-c", "%i", path]) { RedirectStandardOutput = true })!;
        var text = stat.StandardOutput.ReadToEnd();
        stat.WaitForExit();
        return ulong.Parse(text.Trim(), CultureInfo.InvariantCulture);
    }
}
