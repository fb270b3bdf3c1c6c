// Finds the native library (next to this assembly, under runtimes/<rid>/native/, or under <rid>/
// as PowerShell 7 lays modules out) and checks spmt_abi_version() before anything else calls in.
// netstandard2.0 has no NativeLibrary, so each runtime gets its own mechanism:
//   .NET Core 3+ / PowerShell 7  NativeLibrary.SetDllImportResolver, reached by reflection;
//   Mono                         Spmt.Net.dll.config's <dllmap> entries (build.sh puts it beside
//                                the assembly; Mono ignores dllmap entries added at run time);
//   .NET Framework (Windows)     LoadLibraryW on the full path first: later DllImports of
//                                "spmt" bind to the module already loaded under that name.
using System;
using System.Collections.Generic;
using System.IO;
using System.Reflection;
using System.Runtime.InteropServices;

namespace Spmt
{
    internal static class NativeLoader
    {
        static readonly object Gate = new object();
        static bool done;
        static Exception failure;
        static string loadedFrom;

        /// <summary>Where the library was found (null: left to the OS's own search).</summary>
        internal static string LoadedFrom { get { return loadedFrom; } }

        /// <summary>Tests: replaces spmt_abi_version() for the next load (see Reset).</summary>
        internal static Func<uint> VersionProbe = null;

        /// <summary>Tests: forget the last load so the next call loads (and checks) again.</summary>
        internal static void Reset()
        {
            lock (Gate)
            {
                done = false;
                failure = null;
            }
        }

        /// <summary>Loads and checks the native library once; afterwards rethrows the first failure.</summary>
        internal static void EnsureLoaded()
        {
            lock (Gate)
            {
                if (!done)
                {
                    done = true;
                    try { Load(); }
                    catch (Exception e) { failure = e; }
                }
                if (failure != null) throw failure;
            }
        }

        static void Load()
        {
            var dir = AssemblyDirectory();
            var tried = Candidates(dir, RidOs(), RidArch());
            string found = null;
            foreach (var c in tried)
            {
                if (File.Exists(c)) { found = c; break; }
            }
            if (found != null)
            {
                loadedFrom = found;
                Register(found);
            }
            uint version;
            try { version = VersionProbe != null ? VersionProbe() : Native.spmt_abi_version(); }
            catch (Exception e) when (e is DllNotFoundException || e is EntryPointNotFoundException || e is BadImageFormatException)
            {
                throw new SpmtException(SpmtStatus.Internal,
                    "The spmt native library could not be loaded (" + e.Message + "). Looked for: " +
                    string.Join(", ", tried) + ", then the system's library path. Install the module or package " +
                    "with its runtimes/" + RidOs() + "-" + RidArch() + "/native/ folder.", e);
            }
            CheckAbi(version, Native.AbiVersion, found ?? "spmt (from the system's library path)");
        }

        /// <summary>Refuses a native library built for another ABI version (the ABI is exact-match).</summary>
        internal static void CheckAbi(uint found, uint expected, string where)
        {
            if (found != expected)
                throw new SpmtAbiMismatchException(found, expected, where);
        }

        internal static string AssemblyDirectory()
        {
            var loc = typeof(NativeLoader).Assembly.Location;
            return string.IsNullOrEmpty(loc) ? AppDomain.CurrentDomain.BaseDirectory : Path.GetDirectoryName(loc);
        }

        /// <summary>Every path probed, in order: beside the assembly, runtimes/&lt;rid&gt;/native/, &lt;rid&gt;/.</summary>
        internal static IList<string> Candidates(string dir, string os, string arch)
        {
            var rid = os + "-" + arch;
            var files = os == "win" ? new[] { "spmt.dll" }
                : os == "osx" ? new[] { "libspmt.dylib", "spmt.dylib" }
                : new[] { "libspmt.so", "spmt.so" };
            var list = new List<string>();
            foreach (var f in files) list.Add(Path.Combine(dir, f));
            foreach (var f in files) list.Add(Path.Combine(Path.Combine(Path.Combine(Path.Combine(dir, "runtimes"), rid), "native"), f));
            foreach (var f in files) list.Add(Path.Combine(Path.Combine(dir, rid), f));
            return list;
        }

        internal static string RidOs()
        {
            if (RuntimeInformation.IsOSPlatform(OSPlatform.Windows)) return "win";
            if (RuntimeInformation.IsOSPlatform(OSPlatform.OSX)) return "osx";
            return "linux";
        }

        internal static string RidArch()
        {
            switch (RuntimeInformation.ProcessArchitecture)
            {
                case Architecture.X86: return "x86";
                case Architecture.Arm: return "arm";
                case Architecture.Arm64: return "arm64";
                default: return "x64";
            }
        }

        static void Register(string path)
        {
            if (TryCoreResolver(path)) return;
            if (Type.GetType("Mono.Runtime") != null) return; // Spmt.Net.dll.config maps it
            if (RidOs() == "win") LoadLibraryW(path);
        }

        // .NET Core 3+: NativeLibrary.SetDllImportResolver(assembly, resolver), by reflection
        // because netstandard2.0 cannot name it. One resolver per assembly; a second throws.
        static MethodInfo loadPath;
        static string resolvedPath;

        static bool TryCoreResolver(string path)
        {
            var core = typeof(object).Assembly;
            var nl = core.GetType("System.Runtime.InteropServices.NativeLibrary");
            var resolverType = core.GetType("System.Runtime.InteropServices.DllImportResolver");
            if (nl == null || resolverType == null) return false;
            loadPath = nl.GetMethod("Load", new[] { typeof(string) });
            var set = nl.GetMethod("SetDllImportResolver");
            if (loadPath == null || set == null) return false;
            resolvedPath = path;
            var resolver = Delegate.CreateDelegate(resolverType, typeof(NativeLoader).GetMethod("Resolve", BindingFlags.NonPublic | BindingFlags.Static));
            try { set.Invoke(null, new object[] { typeof(NativeLoader).Assembly, resolver }); }
            catch (TargetInvocationException) { /* a resolver is already set: the host handles loading */ }
            return true;
        }

        static IntPtr Resolve(string name, Assembly assembly, DllImportSearchPath? searchPath)
        {
            if (name != Native.Lib || resolvedPath == null) return IntPtr.Zero;
            return (IntPtr)loadPath.Invoke(null, new object[] { resolvedPath });
        }

        [DllImport("kernel32", CharSet = CharSet.Unicode, SetLastError = true)]
        static extern IntPtr LoadLibraryW(string path);
    }
}
