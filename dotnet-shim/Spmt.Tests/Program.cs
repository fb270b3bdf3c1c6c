// Tests for Spmt.Net (against the real cdylib) and for the cmdlets' logic in Spmt.PowerShell
// (plain classes, no PowerShell). Prints one line per failure and `N passed, N failed`; exit
// code 1 when any failed.
//   mono Spmt.Tests.exe [filter]       (Spmt.Net.dll, Spmt.PowerShell.dll and runtimes/<rid>/native/ beside it)
using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Text;
using System.Threading;
using Spmt;
using Spmt.PowerShell;

static partial class Program
{
    static int passed, failed;
    static string filter;
    static readonly List<string> cleanup = new List<string>();

    static int Main(string[] args)
    {
        filter = args.Length > 0 ? args[0] : null;
        var mainThread = Thread.CurrentThread.ManagedThreadId;
        foreach (var m in typeof(Program).GetMethods(BindingFlags.NonPublic | BindingFlags.Static)
                     .Where(m => m.Name.StartsWith("T_", StringComparison.Ordinal)).OrderBy(m => m.MetadataToken))
        {
            var name = m.Name.Substring(2);
            if (filter != null && name.IndexOf(filter, StringComparison.OrdinalIgnoreCase) < 0) continue;
            var started = DateTime.UtcNow;
            try
            {
                m.Invoke(null, null);
                passed++;
                Console.WriteLine("ok   " + name + " (" + (int)(DateTime.UtcNow - started).TotalMilliseconds + " ms)");
            }
            catch (TargetInvocationException e)
            {
                failed++;
                Console.WriteLine("FAIL " + name + ": " + e.InnerException);
            }
        }
        SessionHost.Unregister();
        foreach (var d in cleanup) { try { Directory.Delete(d, true); } catch (Exception) { } }
        Console.WriteLine(passed + " passed, " + failed + " failed");
        return failed > 0 ? 1 : 0;
    }

    // ------------------------------------------------------------------------------------------
    // helpers

    static void Assert(bool cond, string what)
    {
        if (!cond) throw new Exception("assertion failed: " + what);
    }

    static void Eq<T>(T expected, T actual, string what)
    {
        if (!EqualityComparer<T>.Default.Equals(expected, actual))
            throw new Exception(what + ": expected <" + expected + ">, got <" + actual + ">");
    }

    static TEx Throws<TEx>(Action a, string what) where TEx : Exception
    {
        try { a(); }
        catch (TEx e) { return e; }
        catch (Exception e) { throw new Exception(what + ": expected " + typeof(TEx).Name + ", got " + e.GetType().Name + ": " + e.Message); }
        throw new Exception(what + ": expected " + typeof(TEx).Name + ", nothing thrown");
    }

    static string TempDir(string name)
    {
        var d = Path.Combine(Path.GetTempPath(), "spmt-net-" + name + "-" + Guid.NewGuid().ToString("N").Substring(0, 8));
        Directory.CreateDirectory(d);
        cleanup.Add(d);
        return d;
    }

    static Dictionary<string, object> P(params object[] kv)
    {
        var d = new Dictionary<string, object>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < kv.Length; i += 2) d[(string)kv[i]] = kv[i + 1];
        return d;
    }

    static MigrationEvent Ev(MigrationEventKind k, string task, long done = 0, long total = 0)
    {
        return new MigrationEvent { Kind = k, TaskId = task, ItemsDone = done, ItemsTotal = total };
    }

    // ------------------------------------------------------------------------------------------
    // JSON and settings (no native code)

    static void T_json_round_trips_objects_arrays_strings_numbers_and_literals()
    {
        var text = "{\"a\": [1, -2.5e3, true, false, null], \"B\": \"x\\\"y\\\\z\\u00e9\\n\", \"o\": {}}";
        var o = (Dictionary<string, object>)Json.Parse(text);
        var a = (List<object>)o["A"];
        Eq(1L, (long)a[0], "integer");
        Eq(-2500.0, (double)a[1], "double");
        Eq(true, (bool)a[2], "true");
        Assert(a[4] == null, "null");
        Eq("x\"y\\z\u00e9\n", (string)o["b"], "escapes, keys case-insensitive");
        var back = (Dictionary<string, object>)Json.Parse(Json.Serialize(o));
        Eq("x\"y\\z\u00e9\n", (string)back["B"], "round trip");
        Throws<FormatException>(() => Json.Parse("{\"a\": }"), "bad JSON");
        Throws<FormatException>(() => Json.ParseObject("[1]", "x"), "not an object");
    }

    static void T_settings_json_has_only_set_values_utc_dates_and_split_extensions()
    {
        var s = new MigrationSettings
        {
            WorkingFolder = "/w",
            ScanOnly = true,
            MigrateFilesModifiedAfter = new DateTime(2020, 1, 31, 0, 0, 0, DateTimeKind.Utc),
            SkipFilesWithExtension = new List<string> { "tmp:.bak", "log" },
            AccessToken = "secret-token",
        };
        var o = Json.ParseObject(s.ToJson(), "settings");
        Eq("/w", (string)o["WorkingFolder"], "WorkingFolder");
        Eq(true, (bool)o["ScanOnly"], "ScanOnly");
        Eq("2020-01-31T00:00:00Z", (string)o["MigrateFilesModifiedAfter"], "date as RFC 3339 UTC");
        Eq("tmp,bak,log", string.Join(",", ((List<object>)o["SkipFilesWithExtension"]).Cast<string>()), "extensions");
        Assert(!o.ContainsKey("IncludeHiddenFiles"), "unset values are left to the engine");
        Assert(!s.ToString().Contains("secret-token") && s.Redacted().AccessToken == "REDACTED", "ToString and Redacted hide the token");
    }

    // ------------------------------------------------------------------------------------------
    // Register-SPMTMigration's parameters

    static void T_register_parameters_become_engine_settings()
    {
        var s = RegisterParameters.ToSettings(P("ScanOnly", true, "IncludeHiddenFiles", false, "WorkingFolder", "/wf",
            "SkipFilesWithExtension", new List<string> { "txt:mp3" }, "ReplacementOfInvalidChar", "_", "MigrateWithoutRootFolder", true,
            "MigrateFilesCreatedAfter", new DateTime(2019, 5, 1, 0, 0, 0, DateTimeKind.Utc), "AccessToken", "t", "LocalTargetRoot", "/lt",
            "Force", true, "Verbose", true, "ErrorAction", "Stop", "NumberOfVersionToMigrate", 10, "MigrationType", "CONTENT",
            "UserMappingFile", "", "CustomAzureAccessKey", "key-secret"));
        var o = Json.ParseObject(s.ToJson(), "settings");
        Eq(true, (bool)o["ScanOnly"], "ScanOnly");
        Eq(false, (bool)o["IncludeHiddenFiles"], "IncludeHiddenFiles");
        Eq("/wf", (string)o["WorkingFolder"], "WorkingFolder");
        Eq("txt,mp3", string.Join(",", ((List<object>)o["SkipFilesWithExtension"]).Cast<string>()), "SPMT's colon list");
        Eq("_", (string)o["ReplacementOfInvalidChar"], "ReplacementOfInvalidChar");
        Eq(true, (bool)o["MigrateWithoutRootFolder"], "switch");
        Eq("2019-05-01T00:00:00Z", (string)o["MigrateFilesCreatedAfter"], "date");
        Eq("t", (string)o["AccessToken"], "AccessToken");
        Eq("/lt", (string)o["LocalTargetRoot"], "LocalTargetRoot");
        // Everything else goes to the engine as given: it decides (one table, in Rust).
        Eq(10L, Convert.ToInt64(o["NumberOfVersionToMigrate"]), "passed on");
        Eq("CONTENT", (string)o["MigrationType"], "passed on");
        Eq("", (string)o["UserMappingFile"], "passed on");
        Assert(!o.ContainsKey("Force") && !o.ContainsKey("Verbose") && !o.ContainsKey("ErrorAction"), "the cmdlet's own and common parameters stay here");
        Assert(!s.ToString().Contains("key-secret") && !s.ToString().Contains("\"t\""), "ToString hides secrets: " + s);
    }

    // ------------------------------------------------------------------------------------------
    // Add-SPMTTask's parameter sets

    static void T_add_task_file_share_set_gives_an_spmt_json_task()
    {
        var j = TaskParameters.ToTaskJson(TaskParameters.FileShareSet, P("FileShareSource", "D:\\Dept1", "TargetSiteUrl",
            "https://contoso.sharepoint.com/sites/d", "TargetList", "Documents", "TargetListRelativePath", "a/b", "MigrationType", "CONTENT"), new List<string>());
        Eq(1, j.Count, "one task");
        var o = Json.ParseObject(j[0], "task");
        Eq("D:\\Dept1", (string)o["SourcePath"], "SourcePath");
        Eq("https://contoso.sharepoint.com/sites/d", (string)o["TargetPath"], "TargetPath");
        Eq("Documents", (string)o["TargetList"], "TargetList");
        Eq("a/b", (string)o["TargetListRelativePath"], "TargetListRelativePath");
    }

    static void T_add_task_sharepoint_sets_and_migration_type_go_to_the_engine_as_given()
    {
        var j = TaskParameters.ToTaskJson(TaskParameters.MigrateAllSet,
            P("MigrateAll", true, "SharePointSourceSiteUrl", "http://sp2013/sites/a", "SharePointSourceCredential", "u", "TargetSiteUrl", "https://t/sites/a"),
            new List<string>());
        var all = Json.ParseObject(j[0], "t");
        Eq("http://sp2013/sites/a", Json.Str(all, "SharePointSourceSiteUrl"), "site passed on");
        Eq(true, all["MigrateAll"], "the engine names the missing feature");
        var cred = new System.Net.NetworkCredential("alice", "farm-pw", "CONTOSO");
        j = TaskParameters.ToTaskJson(TaskParameters.MigrateSelectedSet,
            P("SharePointSourceSiteUrl", "http://sp2013/sites/a", "SharePointSourceCredential", cred, "SourceList", "Shared Documents",
              "SourceListRelativePath", "Reports", "TargetSiteUrl", "local", "TargetList", "Documents"), new List<string>());
        var sel = Json.ParseObject(j[0], "t");
        Eq("Shared Documents", Json.Str(sel, "SourceList"), "SourceList");
        Eq("Reports", Json.Str(sel, "SourceListRelativePath"), "SourceListRelativePath");
        var c = (Dictionary<string, object>)sel["SharePointSourceCredential"];
        Eq("CONTOSO\\alice", (string)c["UserName"], "DOMAIN\\user");
        Eq("farm-pw", (string)c["Password"], "the password goes to the engine");
        j = TaskParameters.ToTaskJson(TaskParameters.FileShareSet,
            P("FileShareSource", "/x", "TargetSiteUrl", "local", "TargetList", "D", "MigrationType", "WORKFLOW"), new List<string>());
        Eq("WORKFLOW", Json.Str(Json.ParseObject(j[0], "t"), "MigrationType"), "MigrationType passed on");
    }

    static void T_add_task_json_set_takes_a_task_or_a_tasks_file_and_needs_no_credential()
    {
        var notes = new List<string>();
        var one = TaskParameters.ToTaskJson(TaskParameters.JsonSet, P("JsonDefinition",
            "{\"SourcePath\":\"\\\\\\\\contoso\\\\share\",\"TargetPath\":\"local\",\"TargetList\":\"Documents\",\"Settings\":{\"MigrateHiddenItems\":true}}"), notes);
        Eq(1, one.Count, "one");
        Eq("\\\\contoso\\share", Json.Str(Json.ParseObject(one[0], "t"), "SourcePath"), "UNC path kept");
        Eq(0, notes.Count, "no note without a credential");
        var two = TaskParameters.ToTaskJson(TaskParameters.JsonSet, P("JsonDefinition",
            "{\"Tasks\":[{\"SourcePath\":\"/a\",\"TargetPath\":\"local\",\"TargetList\":\"D\"},{\"SourcePath\":\"/b\",\"TargetPath\":\"local\",\"TargetList\":\"D\"}]}",
            "SharePointSourceCredential", new System.Net.NetworkCredential("user", "pw")), notes);
        Eq(2, two.Count, "each entry of Tasks");
        Eq(1, notes.Count, "the unused credential is reported");
        notes.Clear();
        var sp = TaskParameters.ToTaskJson(TaskParameters.JsonSet, P("JsonDefinition",
            "{\"Tasks\":[{\"SourcePath\":\"http://sp/sites/a\",\"SourceList\":\"D\",\"TargetPath\":\"local\",\"TargetList\":\"D\"}]}",
            "SharePointSourceCredential", new System.Net.NetworkCredential("user", "pw")), notes);
        Assert(Json.ParseObject(sp[0], "t").ContainsKey("SharePointSourceCredential"), "a SharePoint task takes the credential");
        Eq(0, notes.Count, "and it is not reported unused");
        Throws<ArgumentException>(() => TaskParameters.ToTaskJson(TaskParameters.JsonSet, P("JsonDefinition", "{not json"), notes), "bad JSON");
    }

    // ------------------------------------------------------------------------------------------
    // Events to progress records

    static void T_progress_view_coalesces_and_completes_activities()
    {
        var now = new DateTime(2024, 1, 1);
        var v = new ProgressView(() => now, 200);
        var r = v.Apply(new MigrationEvent { Kind = MigrationEventKind.TaskStarted, TaskId = "t1", Message = "/src -> local / Documents" });
        Assert(r.Count == 2 && r[0].ActivityId == 2 && r[0].ParentActivityId == ProgressView.SessionActivityId, "task start writes task + session records");
        Assert(r[0].Activity.Contains("/src -> local / Documents"), "activity names source and target");
        r = v.Apply(new MigrationEvent { Kind = MigrationEventKind.Scan, TaskId = "t1", ItemsDone = 10, BytesDone = 2048 });
        Eq(0, r.Count, "within 200 ms: held back");
        now = now.AddMilliseconds(250);
        r = v.Apply(new MigrationEvent { Kind = MigrationEventKind.Scan, TaskId = "t1", ItemsDone = 20, ItemsTotal = 20, BytesDone = 4096, BytesTotal = 4096 });
        var task = r.First(x => x.ActivityId == 2);
        Assert(task.StatusDescription.StartsWith("Scanned 20 items"), "scan text: " + task.StatusDescription);
        Eq(10, task.PercentComplete, "scan done = 10%");
        now = now.AddMilliseconds(250);
        v.Apply(new MigrationEvent { Kind = MigrationEventKind.Import, TaskId = "t1", ItemsDone = 10, ItemsTotal = 20, ItemsFailed = 1 });
        now = now.AddMilliseconds(50);
        v.Apply(new MigrationEvent { Kind = MigrationEventKind.Upload, TaskId = "t1", BytesDone = 4096, BytesTotal = 4096 });
        Eq(0, v.Flush().Count, "flush waits for the interval");
        now = now.AddMilliseconds(300);
        var f = v.Flush();
        Assert(f.Any(x => x.ActivityId == 2 && x.StatusDescription.StartsWith("Uploading")), "flush writes the held-back record");
        Assert(f.First(x => x.ActivityId == 2).CurrentOperation.Contains("1 failed"), "failures shown");
        r = v.Apply(new MigrationEvent { Kind = MigrationEventKind.TaskFinished, TaskId = "t1", Outcome = MigrationOutcome.Failed, Message = "COMPLETED with 1 failed item" });
        Assert(r.Any(x => x.ActivityId == 2 && x.Completed && x.PercentComplete == 100), "task completed at once");
        var msgs = v.TakeMessages();
        Assert(msgs.Count == 1 && msgs[0].IsWarning && msgs[0].Text.Contains("t1"), "a failed task is a warning");
        r = v.Apply(new MigrationEvent { Kind = MigrationEventKind.SessionFinished });
        Assert(r.Any(x => x.ActivityId == ProgressView.SessionActivityId && x.Completed), "session completed");
        v.Apply(new MigrationEvent { Kind = MigrationEventKind.Log, Message = "local target data in /x" });
        Eq("local target data in /x", v.TakeMessages().Single().Text, "log lines become verbose messages");
        Assert(v.Complete().All(x => x.Completed), "Complete closes every activity");
    }

    static void T_cmdlet_messages_name_parameters_not_cli_flags()
    {
        Eq("correct the task's TargetList (-TargetList) or -TargetListRelativePath",
            Wording.ForCmdlets("correct the task's TargetList (--target-list) or --target-list-relative-path"), "longest first");
        Eq("use -DeviceLogin or -Interactive", Wording.ForCmdlets("use --auth device-code or --auth browser"), "sign-in");
        Eq("no flags here", Wording.ForCmdlets("no flags here"), "untouched");
    }

    static void T_progress_view_counts_queued_tasks_and_never_goes_back()
    {
        var now = new DateTime(2024, 1, 1);
        var v = new ProgressView(() => now, 0);
        v.Expect(new[] { "t1", "t2" });
        var r = v.Apply(new MigrationEvent { Kind = MigrationEventKind.TaskStarted, TaskId = "t1" });
        Eq("0 of 2 tasks finished", r.First(x => x.ActivityId == ProgressView.SessionActivityId).StatusDescription, "queued tasks count");
        now = now.AddSeconds(1);
        v.Apply(new MigrationEvent { Kind = MigrationEventKind.Scan, TaskId = "t1", ItemsDone = 20, ItemsTotal = 20 });
        v.Apply(new MigrationEvent { Kind = MigrationEventKind.Package, TaskId = "t1", ItemsDone = 10, ItemsTotal = 10 });
        now = now.AddSeconds(1);
        var before = v.Flush().Concat(v.Apply(new MigrationEvent { Kind = MigrationEventKind.Upload, TaskId = "t1", BytesDone = 0, BytesTotal = 10 }))
            .Where(x => x.ActivityId != ProgressView.SessionActivityId).Last().PercentComplete;
        now = now.AddSeconds(1);
        // More found to package: the packaged fraction drops, the bar does not.
        var after = v.Apply(new MigrationEvent { Kind = MigrationEventKind.Package, TaskId = "t1", ItemsDone = 10, ItemsTotal = 40 })
            .Where(x => x.ActivityId != ProgressView.SessionActivityId).Last().PercentComplete;
        Assert(before >= 30 && after >= before, "monotonic: " + before + " then " + after);
    }

    static void T_progress_view_item_failures_become_warnings_and_seed_shows_status()
    {
        var v = new ProgressView();
        v.Apply(new MigrationEvent { Kind = MigrationEventKind.Item, TaskId = "t", ItemPath = "a/b:c.txt", Outcome = MigrationOutcome.Failed, Code = "0x01110010", Message = "invalid characters" });
        var m = v.TakeMessages().Single();
        Assert(m.IsWarning && m.Text.Contains("0x01110010") && m.Text.Contains("a/b:c.txt"), "item failure: " + m.Text);
        var st = MigrationSessionStatus.Parse("{\"Status\":\"Running\",\"StatusOfTasks\":[{\"TaskId\":\"" + Guid.NewGuid() + "\",\"SourceURI\":\"/s\",\"TargetURI\":\"local/Documents\",\"Status\":\"INPROGRESS\",\"MigratingProgressPercentage\":40}]}");
        var w = new ProgressView();
        w.Seed(st);
        var f = w.Flush();
        Assert(f.Any(x => x.Activity.Contains("/s -> local/Documents") && x.StatusDescription.Contains("40%")), "seeded from status");
    }

    /// <summary>A fake event source fed by several threads, like the engine's.</summary>
    sealed class FakeSource : IMigrationEventSource
    {
        readonly Queue<MigrationEvent> q = new Queue<MigrationEvent>();
        bool done;
        public void Add(MigrationEvent e) { lock (q) { q.Enqueue(e); if (e.Kind == MigrationEventKind.SessionFinished) done = true; Monitor.PulseAll(q); } }
        public bool TryTakeEvent(out MigrationEvent e, int timeoutMs)
        {
            lock (q)
            {
                if (q.Count == 0 && !done) Monitor.Wait(q, timeoutMs);
                e = q.Count > 0 ? q.Dequeue() : null;
                return e != null;
            }
        }
        public bool EventsCompleted { get { lock (q) return done && q.Count == 0; } }
    }

    static void T_progress_pump_writes_only_on_the_calling_thread()
    {
        var src = new FakeSource();
        var me = Thread.CurrentThread.ManagedThreadId;
        var threads = Enumerable.Range(0, 4).Select(i => new Thread(() =>
        {
            var id = "task" + i;
            src.Add(new MigrationEvent { Kind = MigrationEventKind.TaskStarted, TaskId = id });
            for (var k = 1; k <= 500; k++) src.Add(new MigrationEvent { Kind = MigrationEventKind.Import, TaskId = id, ItemsDone = k, ItemsTotal = 500 });
            src.Add(new MigrationEvent { Kind = MigrationEventKind.TaskFinished, TaskId = id, Outcome = MigrationOutcome.Migrated, Message = "COMPLETED" });
        })).ToList();
        threads.ForEach(t => t.Start());
        var finisher = new Thread(() => { threads.ForEach(t => t.Join()); src.Add(new MigrationEvent { Kind = MigrationEventKind.SessionFinished }); });
        finisher.Start();
        var writes = 0;
        var offThread = 0;
        var messages = 0;
        var ended = ProgressPump.Run(src, new ProgressView(), () => false,
            u => { writes++; if (Thread.CurrentThread.ManagedThreadId != me) offThread++; },
            m => { messages++; if (Thread.CurrentThread.ManagedThreadId != me) offThread++; });
        finisher.Join();
        Assert(ended, "the pump returns when the run's events are all taken");
        Eq(0, offThread, "writes off the pipeline thread");
        Eq(4, messages, "one message per finished task");
        Assert(writes > 0 && writes < 2004 * 2, "coalesced: " + writes + " records for 2,009 events");
        var stopped = ProgressPump.Run(new FakeSource(), new ProgressView(), () => true, u => { }, m => { });
        Assert(!stopped, "Ctrl+C detaches");
    }

    // ------------------------------------------------------------------------------------------
    // Status to the session and task objects

    const string StatusJson = @"{""Id"":""s-1"",""Status"":""Finished"",""Result"":""COMPLETED_WITH_ERRORS"",""WorkingFolder"":""/w"",""ReportFolderPath"":""/w/Report"",
      ""StatusOfTasks"":[{""TaskId"":""6f1c1f0e-8a1e-4d59-9a3c-7b0bd1b2a001"",""SourceURI"":""/srv/a"",""TargetURI"":""local/Documents/x"",""TargetList"":""Documents"",
        ""TargetListRelativePath"":""x"",""Status"":""COMPLETED_WITH_ERRORS"",""MigratingProgressPercentage"":100,""NumScannedTotalFiles"":12,""NumScannedBadFiles"":1,
        ""NumFilteredOutFiles"":2,""NumFileWillBeMigrated"":9,""NumActuallyMigratedFiles"":8,""NumFailedFiles"":1,""NumUnchangedFiles"":0,""NumDeletedItems"":0,
        ""ErrorMsg"":""1 item(s) failed"",""ReportFolder"":""/w/Report"",""Round"":2,""StartTime"":""2024-01-01T10:00:00Z"",""EndTime"":null,""Counts"":{},""Settings"":{}}]}";

    static void T_status_json_becomes_typed_session_and_task_objects()
    {
        var s = MigrationSessionStatus.Parse(StatusJson);
        Eq("Finished", s.Status, "Status");
        Eq("/w/Report", s.ReportFolderPath, "ReportFolderPath");
        var t = s.StatusOfTasks.Single();
        Eq(new Guid("6f1c1f0e-8a1e-4d59-9a3c-7b0bd1b2a001"), t.TaskId, "TaskId is a Guid (Remove-SPMTTask -TaskId <Guid>)");
        Eq("/srv/a", t.SourceURI, "SourceURI");
        Eq("local/Documents/x", t.TargetURI, "TargetURI");
        Eq("COMPLETED_WITH_ERRORS", t.Status, "Status");
        Eq(100, t.MigratingProgressPercentage, "percent");
        Eq(12L, t.NumScannedTotalFiles, "scanned");
        Eq(1L, t.NumScannedBadFiles, "bad");
        Eq(9L, t.NumFileWillBeMigrated, "will be migrated");
        Eq(8L, t.NumActuallyMigratedFiles, "migrated");
        Eq(1L, t.NumFailedFiles, "failed");
        Eq("1 item(s) failed", t.ErrorMsg, "ErrorMsg");
        Eq("/w/Report", t.ReportFolder, "ReportFolder");
        Eq(2L, t.Round, "Round");
        Eq(new DateTime(2024, 1, 1, 10, 0, 0, DateTimeKind.Utc), t.StartTime.Value.ToUniversalTime(), "StartTime");
        Assert(t.EndTime == null, "EndTime null");
    }

    static void T_session_object_is_live_and_carries_the_settings()
    {
        var now = new DateTime(2024, 1, 1);
        var json = StatusJson.Replace("\"Finished\"", "\"Running\"");
        var reads = 0;
        var settings = new MigrationSettings { WorkingFolder = "/w", ScanOnly = true, AccessToken = "tok", SkipFilesWithExtension = new List<string> { "tmp" } };
        var s = new SpmtMigrationSession(() => { reads++; return json; }, settings, () => now);
        Eq("Running", s.Status, "first read");
        json = StatusJson;
        Eq("Running", s.Status, "cached for 250 ms");
        now = now.AddMilliseconds(300);
        Eq("Finished", s.Status, "a later read sees the new state (while ($session.Status -ne 'Finished') works)");
        Eq(2, reads, "two engine reads");
        Eq(1, s.StatusOfTasks.Count, "StatusOfTasks");
        Assert(s.ScanOnly && s.IncludeHiddenFiles && s.SkipFilesWithExtension.SequenceEqual(new[] { "tmp" }), "settings with SPMT's defaults");
        Eq("REDACTED", s.Settings.AccessToken, "no secret on the object");
        Eq("tok", settings.AccessToken, "the caller's settings are untouched");
        var gone = new SpmtMigrationSession(() => { throw new ObjectDisposedException("session"); }, null, () => now);
        Eq("", gone.Status, "an unregistered session keeps its last state");
    }

    static void T_failures_map_to_error_categories_scripts_can_tell_apart()
    {
        string id;
        Eq("NotImplemented", ErrorKinds.Category(new SpmtException(SpmtStatus.NotSupported, "x"), out id), "engine NotSupported");
        Eq("ObjectNotFound", ErrorKinds.Category(new SpmtException(SpmtStatus.NotFound, "x"), out id), "NotFound");
        Eq("Spmt.NotFound", id, "engine status in the id");
        Eq("InvalidArgument", ErrorKinds.Category(new SpmtException(SpmtStatus.InvalidArgument, "x"), out id), "engine InvalidArgument");
        Eq("InvalidOperation", ErrorKinds.Category(new InvalidOperationException("no session"), out id), "no session registered");
        Eq("InvalidArgument", ErrorKinds.Category(new ArgumentException("bad"), out id), "bad value");
    }

    static void T_validation_names_missing_sources_and_bad_targets()
    {
        var d = TempDir("validate");
        Assert(SessionHost.ValidateSource(d) == null, "a readable folder is fine");
        Assert(SessionHost.ValidateSource(Path.Combine(d, "nope")).Contains("does not exist"), "missing source");
        Assert(SessionHost.ValidTarget("local/Documents") && SessionHost.ValidTarget("https://contoso.sharepoint.com/sites/a/Documents"), "good targets");
        Assert(!SessionHost.ValidTarget("ftp://x/y") && !SessionHost.ValidTarget(""), "bad targets");
    }

    // ------------------------------------------------------------------------------------------
    // Native loading and the ABI check (no native call needed for these)

    static void T_native_library_is_looked_for_beside_the_assembly_then_under_runtimes()
    {
        var c = NativeLoader.Candidates("/m", "linux", "x64");
        Eq(Path.Combine("/m", "libspmt.so"), c[0], "beside the assembly first");
        Assert(c.Contains(Path.Combine("/m", "runtimes", "linux-x64", "native", "libspmt.so")), "runtimes/<rid>/native/");
        Assert(c.Contains(Path.Combine("/m", "linux-x64", "libspmt.so")), "PowerShell's <rid>/ folder");
        Eq(Path.Combine("/m", "spmt.dll"), NativeLoader.Candidates("/m", "win", "x64")[0], "Windows name");
        Assert(NativeLoader.Candidates("/m", "osx", "arm64").Contains(Path.Combine("/m", "runtimes", "osx-arm64", "native", "libspmt.dylib")), "macOS name");
    }

    static void T_abi_mismatch_is_refused_with_a_clear_error()
    {
        NativeLoader.CheckAbi(Native.AbiVersion, Native.AbiVersion, "x");
        var e = Throws<SpmtAbiMismatchException>(() => NativeLoader.CheckAbi(Native.AbiVersion + 1, Native.AbiVersion, "/opt/libspmt.so"), "mismatch");
        Assert(e.Message.Contains("/opt/libspmt.so") && e.Message.Contains("ABI version " + (Native.AbiVersion + 1)) && e.Message.Contains("same spmt build"), e.Message);
        Eq(Native.AbiVersion + 1, e.FoundVersion, "found version");
    }
}
