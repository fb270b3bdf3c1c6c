// The session the cmdlets of one runspace share (SPMT has one per PowerShell host; here each
// runspace has its own, so thread jobs run migrations side by side) and what each cmdlet does
// with it. Plain code over Spmt.Net's MigrationSession: the cmdlets only bind, call
// these, and write.
using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;

namespace Spmt.PowerShell
{
    /// <summary>What Get-SPMTMigration returns: the registered session with SPMT's property names.
    /// Like SPMT's, it is a live reference: reading Status or StatusOfTasks again shows the current
    /// state (at most every 250 ms from the engine), so a script can loop on
    /// <c>while ($session.Status -ne "Finished")</c>.</summary>
    public sealed class SpmtMigrationSession
    {
        readonly Func<string> source;
        readonly Func<DateTime> clock;
        readonly MigrationSettings settings;
        MigrationSessionStatus last = new MigrationSessionStatus();
        DateTime lastAt = DateTime.MinValue;

        public SpmtMigrationSession(Func<string> statusJson, MigrationSettings settings) : this(statusJson, settings, null) { }

        public SpmtMigrationSession(Func<string> statusJson, MigrationSettings settings, Func<DateTime> clock)
        {
            source = statusJson;
            this.settings = (settings ?? new MigrationSettings()).Redacted();
            this.clock = clock ?? (() => DateTime.UtcNow);
        }

        MigrationSessionStatus Snap()
        {
            var now = clock();
            if (now - lastAt >= TimeSpan.FromMilliseconds(250))
            {
                lastAt = now;
                try
                {
                    var j = source();
                    if (j != null) last = MigrationSessionStatus.Parse(j);
                }
                catch (ObjectDisposedException) { /* unregistered: keep the last state */ }
                catch (SpmtException) { }
            }
            return last;
        }

        /// <summary>Reads the engine's state now.</summary>
        public void Refresh() { lastAt = DateTime.MinValue; Snap(); }

        /// <summary>The next read goes to the engine (a cmdlet changed the session).</summary>
        public void Invalidate() { lastAt = DateTime.MinValue; }

        public string Id { get { return Snap().Id; } }
        /// <summary>NotStarted, a running state, or Finished.</summary>
        public string Status { get { return Snap().Status; } }
        public string Result { get { return Snap().Result; } }
        public string WorkingFolder { get { var w = Snap().WorkingFolder; return string.IsNullOrEmpty(w) ? settings.WorkingFolder : w; } }
        public string ReportFolderPath { get { return Snap().ReportFolderPath; } }
        public List<MigrationTaskStatus> StatusOfTasks { get { return Snap().StatusOfTasks; } }

        // The session-level settings as the engine understood them (defaults filled in, SPMT's
        // older names resolved), falling back to what Register-SPMTMigration was given.
        IDictionary<string, object> Engine { get { return Snap().Settings; } }
        bool Flag(string key, bool given)
        {
            object v;
            return Engine.TryGetValue(key, out v) && v is bool ? (bool)v : given;
        }
        DateTime? When(string key, DateTime? given) { return Engine.ContainsKey(key) ? Json.Date(Engine, key) : given; }

        public bool ScanOnly { get { return Flag("ScanOnly", settings.ScanOnly ?? false); } }
        public bool IncludeHiddenFiles { get { return Flag("IncludeHiddenFiles", settings.IncludeHiddenFiles ?? true); } }
        public DateTime? MigrateFilesCreatedAfter { get { return When("MigrateFilesCreatedAfter", settings.MigrateFilesCreatedAfter); } }
        public DateTime? MigrateFilesModifiedAfter { get { return When("MigrateFilesModifiedAfter", settings.MigrateFilesModifiedAfter); } }
        public List<string> SkipFilesWithExtension
        {
            get
            {
                object v;
                if (Engine.TryGetValue("SkipFilesWithExtension", out v) && v is List<object>)
                    return ((List<object>)v).OfType<string>().ToList();
                return settings.SkipFilesWithExtension == null ? new List<string>() : settings.SkipFilesWithExtension.ToList();
            }
        }
        public string ReplacementOfInvalidChar { get { return Json.Str(Engine, "ReplacementOfInvalidChar") ?? settings.ReplacementOfInvalidChar; } }
        public bool MigrateWithoutRootFolder { get { return Flag("MigrateWithoutRootFolder", settings.MigrateWithoutRootFolder ?? false); } }
        public string MigrationType { get { return "CONTENT"; } }
        public bool EnableEncryption { get { return true; } }
        public bool StartMigrationAutomaticallyWhenNoScanIssue { get { return true; } }
        public string LocalTargetRoot { get { return Json.Str(Engine, "LocalTargetRoot") ?? settings.LocalTargetRoot; } }
        public bool MigrateFileVersionHistory { get { return Flag("MigrateFileVersionHistory", true); } }
        public bool KeepAllVersions { get { return Flag("KeepAllVersions", true); } }
        public bool AutomaticUserMapping { get { return Flag("AutomaticUserMapping", true); } }
        public string UserMappingFile { get { return Json.Str(Engine, "UserMappingFile"); } }
        /// <summary>All settings (AccessToken shown as REDACTED).</summary>
        public MigrationSettings Settings { get { return settings; } }

        public override string ToString()
        {
            return "spmt session " + Status + " (" + StatusOfTasks.Count + " tasks) " + WorkingFolder;
        }
    }

    /// <summary>The registered session of each owner (a PowerShell runspace) and the cmdlets'
    /// operations on it. Thread jobs, <c>ForEach-Object -Parallel</c> and hosted runspaces each
    /// register and run their own migration at once; a runspace that closes stops and frees its
    /// own (they still may not share a working folder: the engine's lock refuses that).</summary>
    public static class SessionHost
    {
        sealed class Slot
        {
            public MigrationSession Current;
            public SpmtMigrationSession View;
        }

        static readonly object Gate = new object();
        static readonly Dictionary<object, Slot> Slots = new Dictionary<object, Slot>();
        static readonly object Outside = new object();

        /// <summary>Creates sessions; tests may replace it.</summary>
        public static Func<MigrationSettings, MigrationSession> Factory = s => new MigrationSession(s);

        /// <summary>Whose session a call is about. The cmdlets set it to the calling runspace;
        /// callers outside PowerShell (the C# tests) share one slot.</summary>
        public static Func<object> Owner = () => Outside;

        /// <summary>Told of each new owner once, so it can call <see cref="Release"/> when the
        /// owner goes away (the cmdlets hook the runspace's closing).</summary>
        public static Action<object> OnNewOwner = o => { };

        static Slot Mine()
        {
            var key = Owner() ?? Outside;
            bool added = false;
            Slot s;
            lock (Gate)
            {
                if (!Slots.TryGetValue(key, out s))
                {
                    s = new Slot();
                    Slots[key] = s;
                    added = true;
                }
            }
            if (added) OnNewOwner(key);
            return s;
        }

        /// <summary>The owner went away (its runspace closed): its run is stopped cleanly and
        /// its session freed.</summary>
        public static void Release(object owner)
        {
            Slot s;
            lock (Gate)
            {
                if (owner == null || !Slots.TryGetValue(owner, out s)) return;
                Slots.Remove(owner);
            }
            MigrationSession running;
            lock (Gate) running = s.Current;
            if (running != null && running.IsRunning) StopWithNotice(running, Console.Error, 30000, "its PowerShell runspace closed");
            Unregister(s);
        }

        /// <summary>Stops a run nobody is there to see end, and says so on <paramref name="say"/>.</summary>
        static bool StopWithNotice(MigrationSession s, System.IO.TextWriter say, int waitMs, string why)
        {
            try
            {
                if (!s.IsRunning || !s.Stop()) return false;
                Drain(s, waitMs);
                var wf = s.Settings != null && s.Settings.WorkingFolder != null ? s.Settings.WorkingFolder : "its working folder";
                say.WriteLine("WARNING: the migration in " + wf + " was stopped because " + why + "; " +
                    "Register-SPMTMigration -WorkingFolder " + wf + ", Add-SPMTTask with the same tasks and Start-SPMTMigration resume it.");
                return true;
            }
            catch (Exception) { return false; } // going away: nothing more can be done
        }

        public static MigrationSession Current { get { var s = Mine(); lock (Gate) return s.Current; } }

        /// <summary>The registered session, or an InvalidOperationException saying what to run first.</summary>
        public static MigrationSession Require()
        {
            var s = Mine();
            lock (Gate)
            {
                if (s.Current == null)
                    throw new InvalidOperationException("No migration session is registered in this PowerShell session; run Register-SPMTMigration first.");
                return s.Current;
            }
        }

        /// <summary>Register-SPMTMigration. A running session is replaced only with -Force (stopped
        /// and unregistered first); an idle one is replaced (with a warning).</summary>
        public static MigrationSession Register(MigrationSettings settings, bool force, ICollection<string> warnings)
        {
            var slot = Mine();
            lock (slot)
            {
                MigrationSession old;
                lock (Gate) old = slot.Current;
                if (old != null)
                {
                    if (old.IsRunning && !force)
                        throw new InvalidOperationException("A migration is running in this session; run Stop-SPMTMigration and Unregister-SPMTMigration first, or pass -Force.");
                    if (!force) warnings.Add("The previously registered migration session was unregistered.");
                    Unregister(slot);
                }
                var s = Factory(settings);
                lock (Gate)
                {
                    slot.Current = s;
                    slot.View = new SpmtMigrationSession(() => s.IsDisposed ? null : s.GetStatusJson(), settings);
                }
                return s;
            }
        }

        /// <summary>Get-SPMTMigration's object (the same live object each time).</summary>
        public static SpmtMigrationSession View()
        {
            Require();
            var slot = Mine();
            SpmtMigrationSession v;
            lock (Gate) v = slot.View;
            v.Refresh();
            return v;
        }

        static void Invalidate()
        {
            var slot = Mine();
            SpmtMigrationSession v;
            lock (Gate) v = slot.View;
            if (v != null) v.Invalidate();
        }

        /// <summary>Add-SPMTTask: adds each task; returns their ids.</summary>
        public static IList<string> AddTasks(IEnumerable<string> taskJson)
        {
            var s = Require();
            try { return taskJson.Select(s.AddTask).ToList(); }
            finally { Invalidate(); }
        }

        /// <summary>Start-SPMTMigration: starts a round over every task and returns at once.</summary>
        public static MigrationSession Start()
        {
            var s = Require();
            try { s.Start(); }
            finally { Invalidate(); }
            return s;
        }

        /// <summary>Start-SPMTMigration's foreground and Show-SPMTMigration: drains the run's events
        /// into progress records on this thread (see ProgressPump.Run).</summary>
        public static bool ShowProgress(MigrationSession s, ProgressView view, Func<bool> stopping,
                                        Action<ProgressUpdate> write, Action<ProgressMessage> message)
        {
            try { return ProgressPump.Run(s, view, stopping, write, message); }
            finally { Invalidate(); }
        }

        /// <summary>Start-SPMTMigration -ParametersValidationOnly: a pre-flight, not a scan. Each
        /// problem names the task and what to fix; none means every task can start.</summary>
        public static IList<string> Validate()
        {
            var st = Require().GetStatus();
            var problems = new List<string>();
            if (st.StatusOfTasks.Count == 0) problems.Add("The session has no tasks; add one with Add-SPMTTask.");
            foreach (var t in st.StatusOfTasks)
            {
                var p = ValidateSource(t.SourceURI);
                if (p != null) problems.Add("Task " + t.TaskId + ": " + p);
                if (!ValidTarget(t.TargetURI))
                    problems.Add("Task " + t.TaskId + ": target '" + t.TargetURI + "' is not an http(s) site URL or the 'local' target.");
            }
            return problems;
        }

        internal static string ValidateSource(string path)
        {
            if (string.IsNullOrEmpty(path)) return "the source path is empty.";
            if (!Directory.Exists(path)) return "source folder '" + path + "' does not exist (or is not a folder).";
            try
            {
                using (var e = Directory.EnumerateFileSystemEntries(path).GetEnumerator()) e.MoveNext();
            }
            catch (Exception e) when (e is UnauthorizedAccessException || e is IOException)
            {
                return "source folder '" + path + "' cannot be read: " + e.Message;
            }
            return null;
        }

        internal static bool ValidTarget(string target)
        {
            if (string.IsNullOrEmpty(target)) return false;
            if (target.StartsWith("local/", StringComparison.OrdinalIgnoreCase) || target.Equals("local", StringComparison.OrdinalIgnoreCase)) return true;
            Uri u;
            return Uri.TryCreate(target, UriKind.Absolute, out u) && (u.Scheme == "https" || u.Scheme == "http");
        }

        /// <summary>Stop-SPMTMigration: stops the run and waits up to timeoutMs for it to end
        /// (draining its events). False when no run was going.</summary>
        public static bool Stop(int timeoutMs)
        {
            var s = Require();
            try
            {
                if (!s.Stop()) return false;
                Drain(s, timeoutMs);
                return true;
            }
            finally { Invalidate(); }
        }

        static void Drain(MigrationSession s, int timeoutMs)
        {
            var deadline = DateTime.UtcNow.AddMilliseconds(timeoutMs);
            MigrationEvent e;
            while (DateTime.UtcNow < deadline)
            {
                while (s.TryTakeEvent(out e, 100)) { }
                if (s.EventsCompleted) return;
            }
        }

        /// <summary>Remove-SPMTTask. A started task needs -Force; since spmt stops runs per session,
        /// -Force stops the session's run first (reported as a warning).</summary>
        public static void RemoveTask(Guid taskId, bool force, ICollection<string> warnings)
        {
            var s = Require();
            var t = s.GetStatus().StatusOfTasks.FirstOrDefault(x => x.TaskId == taskId);
            if (t == null)
                throw new SpmtException(SpmtStatus.NotFound, "No task " + taskId + " in this session (Get-SPMTMigration lists them in StatusOfTasks).");
            if (t.Status == "INPROGRESS")
            {
                if (!force)
                    throw new InvalidOperationException("Task " + taskId + " has already started; pass -Force to remove it.");
                Stop(60000);
                warnings.Add("The session's run was stopped to remove task " + taskId + "; Start-SPMTMigration runs the other tasks again (incrementally).");
            }
            s.RemoveTask(taskId.ToString());
            Invalidate();
        }

        /// <summary>The process is exiting: every running migration is stopped cleanly (what is in
        /// flight finishes and is recorded, so registering the same working folder and tasks
        /// again resumes it), with one line each on <paramref name="say"/>. Returns how many.</summary>
        public static int StopAllOnExit(System.IO.TextWriter say, int waitMs)
        {
            List<Slot> slots;
            lock (Gate) slots = Slots.Values.ToList();
            var stopped = 0;
            foreach (var slot in slots)
            {
                MigrationSession s;
                lock (Gate) s = slot.Current;
                if (s != null && StopWithNotice(s, say, waitMs, "PowerShell is exiting")) stopped++;
            }
            return stopped;
        }

        /// <summary>Unregister-SPMTMigration: stops a run, frees the session (joins its threads).</summary>
        public static bool Unregister()
        {
            return Unregister(Mine());
        }

        static bool Unregister(Slot slot)
        {
            MigrationSession s;
            lock (Gate)
            {
                s = slot.Current;
                slot.Current = null;
            }
            if (s == null) return false;
            try
            {
                if (s.IsRunning && s.Stop()) Drain(s, 30000);
            }
            finally
            {
                // An object a script still holds keeps the session's last state (a stopped run
                // shows Finished/Interrupted, never Running); it reads nothing after this.
                SpmtMigrationSession v;
                lock (Gate) { v = slot.View; slot.View = null; }
                if (v != null) v.Refresh();
                s.Dispose();
            }
            return true;
        }

        /// <summary>One line per task for the host when a foreground run ends.</summary>
        public static IList<TaskOutcome> Summary(MigrationSessionStatus st)
        {
            return st.StatusOfTasks.Select(TaskOutcome.Of).ToList();
        }
    }

    /// <summary>How a finished task is reported at the end of a foreground run. COMPLETED is a
    /// status line (Information stream); FAILED and COMPLETED_WITH_ERRORS are non-terminating
    /// errors whose TargetObject is the task's status, so <c>$?</c> is false and
    /// <c>-ErrorAction Stop</c> throws; a stopped or interrupted task is a warning.</summary>
    public sealed class TaskOutcome
    {
        public MigrationTaskStatus Task { get; private set; }
        public string Text { get; private set; }
        /// <summary>Null unless the outcome is an error.</summary>
        public string ErrorId { get; private set; }
        /// <summary>An ErrorCategory name, for errors.</summary>
        public string Category { get; private set; }
        public bool IsWarning { get; private set; }

        public static TaskOutcome Of(MigrationTaskStatus t)
        {
            var o = new TaskOutcome
            {
                Task = t,
                Text = "Task " + t.TaskId + " " + t.Status + ": " + t.NumActuallyMigratedFiles + " files migrated, " +
                       t.NumFailedFiles + " failed (" + t.SourceURI + " -> " + t.TargetURI + ")" +
                       (string.IsNullOrEmpty(t.ErrorMsg) ? "" : ". " + t.ErrorMsg),
            };
            switch (t.Status)
            {
                case "COMPLETED": break;
                case "FAILED":
                    o.ErrorId = "Spmt.TaskFailed";
                    o.Category = FailureCategory(t.ErrorMsg);
                    break;
                case "COMPLETED_WITH_ERRORS":
                    o.ErrorId = "Spmt.TaskCompletedWithErrors";
                    o.Text += ". The item reports in " + t.ReportFolder + " name each failed item and its fix";
                    o.Category = "InvalidResult";
                    break;
                default: o.IsWarning = true; break;
            }
            return o;
        }

        /// <summary>The ErrorCategory of a task that could not run, from the engine's message.</summary>
        static string FailureCategory(string message)
        {
            var m = (message ?? "").ToLowerInvariant();
            if (m.Contains("does not exist") || m.Contains("not found") || m.Contains("no such file")) return "ObjectNotFound";
            if (m.Contains("token") || m.Contains("401")) return "AuthenticationError";
            if (m.Contains("permission denied") || m.Contains("access")) return "PermissionDenied";
            return "OperationStopped";
        }
    }
}
