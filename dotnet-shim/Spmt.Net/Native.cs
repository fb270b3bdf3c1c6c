// P/Invoke declarations matching include/spmt.h (ABI version 1), one SafeHandle per handle type.
// netstandard2.0 rules (reference/engineering-anchors.md §2.1): DllImport, Cdecl delegates kept
// alive in static fields, strings passed as NUL-terminated UTF-8 byte arrays (LPUTF8Str needs
// .NET Framework 4.7+), no C bool anywhere in this ABI.
using System;
using System.Runtime.InteropServices;
using System.Text;
using System.Threading;

namespace Spmt
{
    /// <summary>spmt_status_t: fixed values, never reused (include/spmt.h).</summary>
    public enum SpmtStatus : uint
    {
        Ok = 0,
        NullArgument = 1,
        InvalidHandle = 2,
        InvalidUtf8 = 3,
        InvalidJson = 4,
        InvalidArgument = 5,
        InvalidState = 6,
        NotSupported = 7,
        NotFound = 8,
        Timeout = 9,
        Done = 10,
        Io = 11,
        Internal = 12,
        Panic = 13,
    }

    /// <summary>spmt_event_kind_t.</summary>
    public enum MigrationEventKind : uint
    {
        Log = 1,
        TaskStarted = 2,
        Scan = 3,
        Package = 4,
        Upload = 5,
        Import = 6,
        Item = 7,
        TaskFinished = 8,
        SessionFinished = 9,
        /// <summary>Sign-in needs a person: Message says what to do (the device code message, or the
        /// address to open); Code is "DeviceCode" or "Browser".</summary>
        SignIn = 10,
    }

    /// <summary>spmt_outcome_t: an item's outcome, or a finished task's.</summary>
    public enum MigrationOutcome : uint
    {
        None = 0,
        Migrated = 1,
        Skipped = 2,
        Failed = 3,
        /// <summary>Removed from the target (PropagateDeletes).</summary>
        Deleted = 4,
    }

    /// <summary>spmt_event_t, field for field.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct NativeEvent
    {
        public uint Kind;
        public uint Outcome;
        public IntPtr TaskId;
        public IntPtr ItemPath;
        public IntPtr Code;
        public IntPtr Message;
        public ulong ItemsDone;
        public ulong ItemsTotal;
        public ulong BytesDone;
        public ulong BytesTotal;
        public ulong ItemsFailed;
        public ulong ItemsSkipped;
    }

    /// <summary>spmt_event_cb: (user_data, const spmt_event_t *).</summary>
    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    internal delegate void NativeEventCallback(IntPtr userData, IntPtr evt);

    /// <summary>spmt_free_cb: (user_data).</summary>
    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    internal delegate void NativeFreeCallback(IntPtr userData);

    /// <summary>spmt_session_t *, freed with spmt_session_free (which stops a run and joins its threads).</summary>
    internal sealed class SessionHandle : SafeHandle
    {
        internal static int Released;
        public SessionHandle() : base(IntPtr.Zero, true) { }
        public override bool IsInvalid { get { return handle == IntPtr.Zero; } }
        protected override bool ReleaseHandle()
        {
            Native.spmt_session_free(handle);
            Interlocked.Increment(ref Released);
            return true;
        }
    }

    /// <summary>spmt_error_t *, freed with spmt_error_free.</summary>
    internal sealed class ErrorHandle : SafeHandle
    {
        internal static int Released;
        public ErrorHandle() : base(IntPtr.Zero, true) { }
        public override bool IsInvalid { get { return handle == IntPtr.Zero; } }
        protected override bool ReleaseHandle()
        {
            Native.spmt_error_free(handle);
            Interlocked.Increment(ref Released);
            return true;
        }

        public string Message
        {
            get { return IsInvalid || IsClosed ? null : Utf8.FromNative(Native.spmt_error_message(this)); }
        }

        /// <summary>The facts behind the error as JSON, or null.</summary>
        public string Detail
        {
            get { return IsInvalid || IsClosed ? null : Utf8.FromNative(Native.spmt_error_detail(this)); }
        }
    }

    /// <summary>spmt_event_t * from spmt_session_next_event, freed with spmt_event_free.</summary>
    internal sealed class EventHandle : SafeHandle
    {
        public EventHandle() : base(IntPtr.Zero, true) { }
        public override bool IsInvalid { get { return handle == IntPtr.Zero; } }
        protected override bool ReleaseHandle()
        {
            Native.spmt_event_free(handle);
            return true;
        }
    }

    /// <summary>char * returned by spmt, freed with spmt_string_free.</summary>
    internal sealed class NativeStringHandle : SafeHandle
    {
        public NativeStringHandle() : base(IntPtr.Zero, true) { }
        public override bool IsInvalid { get { return handle == IntPtr.Zero; } }
        protected override bool ReleaseHandle()
        {
            Native.spmt_string_free(handle);
            return true;
        }

        /// <summary>Copies the string and frees the native one.</summary>
        public string TakeString()
        {
            try { return IsInvalid ? null : Utf8.FromNative(handle); }
            finally { Dispose(); }
        }
    }

    internal static class Utf8
    {
        /// <summary>NUL-terminated UTF-8 for a <c>const char *</c> argument.</summary>
        public static byte[] ToNative(string s)
        {
            if (s == null) return null;
            var n = Encoding.UTF8.GetByteCount(s);
            var b = new byte[n + 1];
            Encoding.UTF8.GetBytes(s, 0, s.Length, b, 0);
            return b;
        }

        public static string FromNative(IntPtr p)
        {
            if (p == IntPtr.Zero) return null;
            var n = 0;
            while (Marshal.ReadByte(p, n) != 0) n++;
            var b = new byte[n];
            Marshal.Copy(p, b, 0, n);
            return Encoding.UTF8.GetString(b);
        }
    }

    internal static class Native
    {
        internal const string Lib = "spmt";

        /// <summary>The ABI this assembly was written against (SPMT_ABI_VERSION).</summary>
        internal const uint AbiVersion = 3;

        /// <summary>spmt_session_wait / spmt_session_next_event: no time limit.</summary>
        internal const uint Forever = uint.MaxValue;

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern uint spmt_abi_version();

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern SpmtStatus spmt_session_new(byte[] settingsJson, out SessionHandle session, out ErrorHandle err);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern SpmtStatus spmt_session_add_task(SessionHandle s, byte[] taskJson, out NativeStringHandle taskId, out ErrorHandle err);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern SpmtStatus spmt_session_remove_task(SessionHandle s, byte[] taskId, out ErrorHandle err);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern SpmtStatus spmt_session_start(SessionHandle s, NativeEventCallback cb, IntPtr userData, NativeFreeCallback userDataFree, out ErrorHandle err);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern SpmtStatus spmt_session_next_event(SessionHandle s, uint timeoutMs, out EventHandle evt);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern void spmt_event_free(IntPtr evt);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern SpmtStatus spmt_session_wait(SessionHandle s, uint timeoutMs);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern SpmtStatus spmt_session_status(SessionHandle s, out NativeStringHandle json, out ErrorHandle err);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern SpmtStatus spmt_session_stop(SessionHandle s);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern void spmt_session_free(IntPtr s);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern void spmt_string_free(IntPtr s);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern IntPtr spmt_error_message(ErrorHandle e);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern SpmtStatus spmt_error_status(ErrorHandle e);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern IntPtr spmt_error_detail(ErrorHandle e);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern void spmt_error_free(IntPtr e);

        /// <summary>Diagnostic export of issue 5 (not in the fixed list): sends threads × perThread
        /// item events through the callback path. Used by the tests only.</summary>
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern double spmt_bench_callbacks(NativeEventCallback cb, IntPtr userData, uint threads, ulong perThread);

        /// <summary>Throws the SpmtException a failed call describes (and frees its error object).</summary>
        internal static void Check(SpmtStatus status, ErrorHandle err, string what)
        {
            if (status == SpmtStatus.Ok)
            {
                if (err != null) err.Dispose();
                return;
            }
            string message = null, detail = null;
            if (err != null)
            {
                message = err.Message;
                detail = err.Detail;
                err.Dispose();
            }
            throw SpmtException.From(status, what, message, detail);
        }
    }
}
