using System;
using System.Globalization;

namespace Spmt
{
    /// <summary>A call into spmt failed: the engine's status and its message (which names the
    /// problem and the fix).</summary>
    public class SpmtException : Exception
    {
        public SpmtStatus Status { get; private set; }

        /// <summary>For <see cref="SpmtStatus.NotSupported"/>: the setting as the caller gave it,
        /// the feature spmt does not have yet, and what to do instead (the engine decides all
        /// three; no host keeps a table of its own). Null otherwise.</summary>
        public string Key { get; private set; }
        public string Feature { get; private set; }
        public string Hint { get; private set; }

        public SpmtException(SpmtStatus status, string message) : base(message) { Status = status; }

        public SpmtException(SpmtStatus status, string message, Exception inner) : base(message, inner) { Status = status; }

        internal static SpmtException From(SpmtStatus status, string what, string message, string detail = null)
        {
            var text = string.IsNullOrEmpty(message)
                ? what + " failed: " + status.ToString()
                : message;
            var e = new SpmtException(status, text);
            if (!string.IsNullOrEmpty(detail))
            {
                try
                {
                    var d = Json.ParseObject(detail, "error detail");
                    e.Key = Json.Str(d, "Key");
                    e.Feature = Json.Str(d, "Feature");
                    e.Hint = Json.Str(d, "Hint");
                }
                catch (FormatException) { /* the message says it all */ }
            }
            return e;
        }
    }

    /// <summary>The native library's ABI version differs from the one this assembly was built for.</summary>
    public sealed class SpmtAbiMismatchException : SpmtException
    {
        public uint FoundVersion { get; private set; }
        public uint ExpectedVersion { get; private set; }

        public SpmtAbiMismatchException(uint found, uint expected, string where)
            : base(SpmtStatus.Internal, string.Format(CultureInfo.InvariantCulture,
                "The spmt native library {0} has ABI version {1}, but this Spmt.Net assembly needs ABI version {2}. " +
                "Use the native library and the assemblies from the same spmt build (reinstall the module or package).",
                where, found, expected))
        {
            FoundVersion = found;
            ExpectedVersion = expected;
        }
    }

    /// <summary>An <see cref="MigrationSession.EventReceived"/> handler threw. The event was
    /// delivered on the caller's thread, the session keeps running, and later events are still
    /// queued; the handler's exception is the inner exception.</summary>
    public sealed class MigrationEventHandlerException : Exception
    {
        public MigrationEvent Event { get; private set; }

        public MigrationEventHandlerException(MigrationEvent e, Exception inner)
            : base("An EventReceived handler threw while handling a " + e.Kind + " event: " + inner.Message, inner)
        {
            Event = e;
        }
    }

    /// <summary>Something failed inside the native callback (on an engine thread). It was caught
    /// there, never crossed into native code, and is rethrown on the caller's thread.</summary>
    public sealed class MigrationCallbackException : Exception
    {
        public MigrationCallbackException(Exception inner)
            : base("spmt's event callback failed on an engine thread: " + inner.Message, inner) { }
    }
}
