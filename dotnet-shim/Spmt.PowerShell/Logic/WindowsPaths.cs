// SPMT's scripts come from Windows: their sources are `C:\Shares\Dept1` or `\\server\share`.
// On Linux or macOS neither can be opened as written, and PowerShell's own answer ("Cannot find
// drive", or a relative folder named `\\server\share`) hides what to do. This says it plainly.
using System;
using System.IO;

namespace Spmt.PowerShell
{
    public static class WindowsPaths
    {
        /// <summary>Why <paramref name="path"/>, given as <paramref name="parameter"/>, cannot be
        /// opened on this (non-Windows) machine, naming the fix; null when it is not a Windows-only
        /// path or this is Windows. <paramref name="hasDrive"/> says whether a PSDrive of that name
        /// exists (a user may map one, e.g. <c>New-PSDrive C FileSystem /mnt/c</c>).</summary>
        public static string Problem(string parameter, string path, Func<string, bool> hasDrive)
        {
            if (Path.DirectorySeparatorChar == '\\' || string.IsNullOrEmpty(path)) return null;
            if (path.StartsWith(@"\\", StringComparison.Ordinal))
                return "-" + parameter + " '" + path + "' is a Windows share (UNC) path, which this machine cannot open: " +
                    "mount the share here (for example: mount -t cifs //server/share /mnt/share) and give the mounted folder";
            if (path.Length >= 2 && path[1] == ':' && char.IsLetter(path[0]) && !hasDrive(path.Substring(0, 1)))
                return "-" + parameter + " '" + path + "' was not found: it is a Windows drive path and this machine has no drive " +
                    path.Substring(0, 2) + "; give the folder as it is mounted here (for example /mnt/shares/dept1), " +
                    "or map the letter with New-PSDrive -Name " + path.Substring(0, 1) + " -PSProvider FileSystem -Root <folder>";
            return null;
        }
    }
}
