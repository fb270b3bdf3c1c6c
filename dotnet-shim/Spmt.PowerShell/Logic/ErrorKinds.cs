using System;

namespace Spmt.PowerShell
{
    /// <summary>A task that failed or completed with errors: its message is the task's summary
    /// line (the error record's TargetObject is its status).</summary>
    public sealed class SpmtTaskException : Exception
    {
        public SpmtTaskException(string message) : base(message) { }
    }

    /// <summary>How a failure is reported: the ErrorRecord's id and the name of its ErrorCategory
    /// (the cmdlet turns the name into the enum), so scripts can tell a missing feature
    /// (NotImplemented) from a bad value (InvalidArgument) or a wrong moment (InvalidOperation).</summary>
    public static class ErrorKinds
    {
        public static string Category(Exception e, out string errorId)
        {
            errorId = "Spmt." + e.GetType().Name;
            var se = e as SpmtException;
            if (se != null && se.Status == SpmtStatus.NotSupported && !string.IsNullOrEmpty(se.Key))
            {
                // The engine names the setting as the caller gave it: the parameter.
                errorId = "Spmt.NotSupported." + se.Key;
                return "NotImplemented";
            }
            if (se != null)
            {
                errorId = "Spmt." + se.Status;
                switch (se.Status)
                {
                    case SpmtStatus.NotSupported: return "NotImplemented";
                    case SpmtStatus.InvalidArgument:
                    case SpmtStatus.InvalidJson:
                    case SpmtStatus.InvalidUtf8: return "InvalidArgument";
                    case SpmtStatus.InvalidState: return "InvalidOperation";
                    case SpmtStatus.NotFound: return "ObjectNotFound";
                    case SpmtStatus.Io: return "ResourceUnavailable";
                    default: return "NotSpecified";
                }
            }
            if (e is ArgumentException) return "InvalidArgument";
            if (e is System.IO.DirectoryNotFoundException) return "ObjectNotFound";
            if (e is InvalidOperationException) return "InvalidOperation";
            return "NotSpecified";
        }
    }
}
