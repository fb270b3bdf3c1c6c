// Native events to Write-Progress records: one parent activity for the session, one child per
// task, coalesced so PowerShell's progress rendering (slow; engineering-anchors §2.2) is fed at
// most every 200 ms per activity. Plain class: the cmdlet turns each ProgressUpdate into a
// ProgressRecord on its pipeline thread.
using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Threading;

namespace Spmt.PowerShell
{
    /// <summary>What one Write-Progress call shows (ProgressRecord's fields).</summary>
    public sealed class ProgressUpdate
    {
        public int ActivityId { get; set; }
        public int ParentActivityId { get; set; }
        public string Activity { get; set; }
        public string StatusDescription { get; set; }
        public int PercentComplete { get; set; }
        public string CurrentOperation { get; set; }
        /// <summary>The activity is over (ProgressRecordType.Completed).</summary>
        public bool Completed { get; set; }

        public ProgressUpdate() { ParentActivityId = -1; PercentComplete = -1; }

        public override string ToString()
        {
            return ActivityId + (Completed ? " done " : " ") + PercentComplete + "% " + Activity + ": " + StatusDescription;
        }
    }

    /// <summary>A line for the host: verbose (engine logs, task summaries) or warning (failures).</summary>
    public sealed class ProgressMessage
    {
        public bool IsWarning { get; set; }
        /// <summary>An engine diagnostic (Write-Debug), not a detail of the run (Write-Verbose).</summary>
        public bool IsDebug { get; set; }
        public string Text { get; set; }
    }

    public sealed class ProgressView
    {
        public const int SessionActivityId = 1;

        sealed class TaskState
        {
            public int ActivityId;
            public string Title;
            public bool ScanDone, Finished;
            public long Scanned, ScannedBytes, Packaged, PackageTotal, Uploaded, UploadTotal, Imported, ImportTotal, Failed, Skipped;
            public string Text = "Waiting to start";
            public string Operation, LastItem;
            /// <summary>The highest percent shown in this round: the bar never goes back.</summary>
            public int ShownPercent;
            public DateTime LastWrite = DateTime.MinValue;
            public bool Dirty;
        }

        readonly Func<DateTime> clock;
        readonly TimeSpan interval;
        readonly Dictionary<string, TaskState> tasks = new Dictionary<string, TaskState>(StringComparer.OrdinalIgnoreCase);
        readonly List<ProgressMessage> messages = new List<ProgressMessage>();
        int nextId = SessionActivityId + 1;
        bool sessionDone;
        DateTime sessionLastWrite = DateTime.MinValue;
        bool sessionDirty;

        public ProgressView() : this(null, 200) { }

        public ProgressView(Func<DateTime> clock, int minIntervalMs)
        {
            this.clock = clock ?? (() => DateTime.UtcNow);
            interval = TimeSpan.FromMilliseconds(minIntervalMs);
        }

        public string SessionActivity { get { return "SharePoint migration (spmt)"; } }

        /// <summary>Starts from a status snapshot (Show-SPMTMigration attaching to a running session).</summary>
        /// <summary>The tasks a run will go through, known before any has started, so the session
        /// bar counts them all ("0 of 2 tasks finished", not "0 of 1").</summary>
        public void Expect(IEnumerable<string> taskIds)
        {
            foreach (var id in taskIds) Task(id);
            sessionDirty = true;
        }

        public void Seed(MigrationSessionStatus status)
        {
            foreach (var t in status.StatusOfTasks)
            {
                var s = Task(t.TaskId.ToString());
                s.Title = "Task " + t.TaskId + ": " + t.SourceURI + " -> " + t.TargetURI;
                s.Text = t.Status + ", " + t.MigratingProgressPercentage + "%";
                s.Finished = t.Status != "INITED" && t.Status != "INPROGRESS";
                s.Dirty = true;
            }
            sessionDirty = true;
        }

        TaskState Task(string id)
        {
            TaskState s;
            if (!tasks.TryGetValue(id, out s))
            {
                s = new TaskState { ActivityId = nextId++, Title = "Task " + id };
                tasks[id] = s;
            }
            return s;
        }

        /// <summary>Lines to write (verbose or warning) since the last call.</summary>
        public IList<ProgressMessage> TakeMessages()
        {
            var m = messages.ToList();
            messages.Clear();
            return m;
        }

        /// <summary>Folds one event in; returns the records to write now.</summary>
        public IList<ProgressUpdate> Apply(MigrationEvent e)
        {
            var now = clock();
            var outList = new List<ProgressUpdate>();
            if (e.Kind == MigrationEventKind.SignIn)
            {
                // Someone must act on it (enter the code, open the address): shown as a warning.
                if (!string.IsNullOrEmpty(e.Message)) messages.Add(new ProgressMessage { Text = e.Message, IsWarning = true });
                return outList;
            }
            if (e.Kind == MigrationEventKind.Log)
            {
                // The engine's own lines are diagnostics, unless it marks one as a problem.
                var problem = e.Outcome == MigrationOutcome.Failed;
                if (!string.IsNullOrEmpty(e.Message))
                    messages.Add(new ProgressMessage { Text = e.Message, IsWarning = problem, IsDebug = !problem });
                return outList;
            }
            if (e.Kind == MigrationEventKind.SessionFinished)
            {
                foreach (var t in tasks.Values.Where(t => !t.Finished)) { t.Finished = true; outList.Add(Record(t, now)); }
                sessionDone = true;
                outList.Add(SessionRecord(now));
                return outList;
            }
            if (string.IsNullOrEmpty(e.TaskId)) return outList;
            var s = Task(e.TaskId);
            var force = false;
            switch (e.Kind)
            {
                case MigrationEventKind.TaskStarted:
                    if (!string.IsNullOrEmpty(e.Message)) s.Title = "Task " + e.TaskId + ": " + e.Message;
                    s.Text = "Starting";
                    s.Finished = false;
                    s.ShownPercent = 0;
                    force = true;
                    break;
                case MigrationEventKind.Scan:
                    s.Scanned = e.ItemsDone;
                    s.ScannedBytes = e.BytesDone;
                    s.Skipped = e.ItemsSkipped;
                    s.ScanDone = e.ItemsTotal > 0 || s.ScanDone;
                    s.Text = s.ScanDone
                        ? "Scanned " + N(e.ItemsDone) + " items (" + Bytes(e.BytesDone) + ")"
                        : "Scanning: " + N(e.ItemsDone) + " items found (" + Bytes(e.BytesDone) + ")";
                    break;
                case MigrationEventKind.Package:
                    s.Packaged = e.ItemsDone;
                    s.PackageTotal = e.ItemsTotal;
                    s.Text = "Packaging " + N(e.ItemsDone) + " of " + N(e.ItemsTotal) + " items";
                    break;
                case MigrationEventKind.Upload:
                    s.Uploaded = e.BytesDone;
                    s.UploadTotal = e.BytesTotal;
                    s.Text = "Uploading " + Bytes(e.BytesDone) + " of " + Bytes(e.BytesTotal);
                    break;
                case MigrationEventKind.Import:
                    s.Imported = e.ItemsDone;
                    s.ImportTotal = e.ItemsTotal;
                    s.Failed = e.ItemsFailed;
                    s.Text = "Importing: " + N(e.ItemsDone) + " of " + N(e.ItemsTotal) + " items in SharePoint";
                    break;
                case MigrationEventKind.Item:
                    s.Failed = Math.Max(s.Failed, e.ItemsFailed);
                    if (e.ItemPath != null)
                    {
                        s.LastItem = e.ItemPath;
                        if (e.Outcome == MigrationOutcome.Failed)
                            messages.Add(new ProgressMessage
                            {
                                IsWarning = true,
                                Text = e.ItemPath + ": " + (e.Code != null ? e.Code + " " : "") + (e.Message ?? "failed"),
                            });
                    }
                    break;
                case MigrationEventKind.TaskFinished:
                    s.Finished = true;
                    s.Text = string.IsNullOrEmpty(e.Message) ? "Finished" : e.Message;
                    messages.Add(new ProgressMessage
                    {
                        IsWarning = e.Outcome == MigrationOutcome.Failed,
                        Text = "Task " + e.TaskId + " finished: " + s.Text,
                    });
                    force = true;
                    break;
                default:
                    return outList;
            }
            var counts = s.Failed > 0 || s.Skipped > 0 ? N(s.Failed) + " failed, " + N(s.Skipped) + " left out" : null;
            s.Operation = s.LastItem == null ? counts : counts == null ? s.LastItem : s.LastItem + " (" + counts + ")";
            s.Dirty = true;
            sessionDirty = true;
            if (force || now - s.LastWrite >= interval) outList.Add(Record(s, now));
            if (force || now - sessionLastWrite >= interval) outList.Add(SessionRecord(now));
            return outList;
        }

        /// <summary>Records held back by coalescing whose interval has passed (call when idle).</summary>
        public IList<ProgressUpdate> Flush()
        {
            var now = clock();
            var outList = new List<ProgressUpdate>();
            foreach (var s in tasks.Values)
                if (s.Dirty && now - s.LastWrite >= interval) outList.Add(Record(s, now));
            if (sessionDirty && now - sessionLastWrite >= interval) outList.Add(SessionRecord(now));
            return outList;
        }

        /// <summary>Completed records for every activity (the view is closing).</summary>
        public IList<ProgressUpdate> Complete()
        {
            var now = clock();
            var outList = new List<ProgressUpdate>();
            foreach (var s in tasks.Values)
            {
                var r = Record(s, now);
                r.Completed = true;
                outList.Add(r);
            }
            var sr = SessionRecord(now);
            sr.Completed = true;
            outList.Add(sr);
            return outList;
        }

        /// <summary>0–100 over the phases (which overlap: the pipeline runs them together).</summary>
        static int Percent(TaskState s)
        {
            if (s.Finished) return 100;
            double scan = s.ScanDone ? 1 : 0;
            double pkg = s.PackageTotal > 0 ? (double)s.Packaged / s.PackageTotal : 0;
            double up = s.UploadTotal > 0 ? (double)s.Uploaded / s.UploadTotal : 0;
            double imp = s.ImportTotal > 0 ? (double)s.Imported / s.ImportTotal : 0;
            var p = 10 * scan + 20 * pkg + 40 * up + 30 * imp;
            return (int)Math.Max(0, Math.Min(99, Math.Floor(p)));
        }

        static int Shown(TaskState s)
        {
            s.ShownPercent = Math.Max(s.ShownPercent, Percent(s));
            return s.ShownPercent;
        }

        ProgressUpdate Record(TaskState s, DateTime now)
        {
            s.LastWrite = now;
            s.Dirty = false;
            return new ProgressUpdate
            {
                ActivityId = s.ActivityId,
                ParentActivityId = SessionActivityId,
                Activity = s.Title,
                StatusDescription = s.Text,
                PercentComplete = Shown(s),
                CurrentOperation = s.Operation,
                Completed = s.Finished,
            };
        }

        ProgressUpdate SessionRecord(DateTime now)
        {
            sessionLastWrite = now;
            sessionDirty = false;
            var done = tasks.Values.Count(t => t.Finished);
            var n = tasks.Count;
            return new ProgressUpdate
            {
                ActivityId = SessionActivityId,
                Activity = SessionActivity,
                StatusDescription = sessionDone ? "Finished" : done + " of " + n + " tasks finished",
                PercentComplete = sessionDone ? 100 : n == 0 ? 0 : (int)(tasks.Values.Sum(t => (long)Shown(t)) / n),
                Completed = sessionDone,
            };
        }

        static string N(long n) { return n.ToString("N0", CultureInfo.InvariantCulture); }

        internal static string Bytes(long b)
        {
            string[] u = { "B", "KB", "MB", "GB", "TB" };
            double v = b;
            var i = 0;
            while (v >= 1024 && i < u.Length - 1) { v /= 1024; i++; }
            return (i == 0 ? b.ToString(CultureInfo.InvariantCulture) : v.ToString("0.0", CultureInfo.InvariantCulture)) + " " + u[i];
        }
    }

    /// <summary>The drain loop a cmdlet runs on its pipeline thread: takes events (engine threads
    /// only queued them), folds them into a ProgressView, and hands records and messages to the
    /// cmdlet's Write* calls, all on the calling thread.</summary>
    public static class ProgressPump
    {
        /// <summary>Runs until the run's events are all taken (true) or <paramref name="stopping"/>
        /// says so (false: Ctrl+C detaches, the run goes on).</summary>
        public static bool Run(IMigrationEventSource source, ProgressView view, Func<bool> stopping,
                               Action<ProgressUpdate> write, Action<ProgressMessage> message)
        {
            while (!stopping())
            {
                MigrationEvent e;
                if (source.TryTakeEvent(out e, 100))
                {
                    foreach (var u in view.Apply(e)) write(u);
                }
                else
                {
                    foreach (var u in view.Flush()) write(u);
                }
                foreach (var m in view.TakeMessages()) message(m);
                if (e == null)
                {
                    if (source.EventsCompleted)
                    {
                        foreach (var u in view.Complete()) write(u);
                        return true;
                    }
                    Thread.Sleep(5);
                }
            }
            foreach (var u in view.Complete()) write(u);
            return false;
        }
    }
}
