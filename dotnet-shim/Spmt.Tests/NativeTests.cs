// Tests that call the real cdylib (runtimes/<rid>/native/ beside the test program).
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
    /// <summary>A small file share: nested folders, a non-ASCII name, a few sizes.</summary>
    static Dictionary<string, byte[]> MakeShare(string root, int files)
    {
        var made = new Dictionary<string, byte[]>();
        var rnd = new Random(7);
        for (var i = 0; i < files; i++)
        {
            var rel = i % 3 == 0 ? Path.Combine("Données", "报告-" + i + ".txt") : i % 3 == 1 ? Path.Combine("a", "b", "f" + i + ".bin") : "top" + i + ".dat";
            var bytes = new byte[rnd.Next(0, 70000)];
            rnd.NextBytes(bytes);
            var p = Path.Combine(root, rel);
            Directory.CreateDirectory(Path.GetDirectoryName(p));
            File.WriteAllBytes(p, bytes);
            made[rel] = bytes;
        }
        return made;
    }

    static MigrationSettings LocalSettings(string name)
    {
        var d = TempDir(name);
        return new MigrationSettings { WorkingFolder = Path.Combine(d, "work"), LocalTargetRoot = Path.Combine(d, "target") };
    }

    static void T_native_abi_version_matches_and_the_library_is_found()
    {
        Eq(MigrationSession.AbiVersion, MigrationSession.NativeAbiVersion, "spmt_abi_version()");
        var path = MigrationSession.NativeLibraryPath;
        Assert(path != null && File.Exists(path), "loaded from a probed path: " + path);
    }

    static void T_a_native_library_with_another_abi_version_is_refused_at_load()
    {
        NativeLoader.Reset();
        NativeLoader.VersionProbe = () => MigrationSession.AbiVersion + 1;
        try
        {
            var e = Throws<SpmtAbiMismatchException>(() => new MigrationSession(new MigrationSettings()), "first use");
            Assert(e.Message.Contains("libspmt") && e.Message.Contains("ABI version " + (MigrationSession.AbiVersion + 1)), e.Message);
            Throws<SpmtAbiMismatchException>(() => MigrationSession.FromJson("{}"), "every later use refuses too");
        }
        finally
        {
            NativeLoader.VersionProbe = null;
            NativeLoader.Reset();
        }
        Eq(MigrationSession.AbiVersion, MigrationSession.NativeAbiVersion, "the matching library loads again");
    }

    static void T_real_migration_into_the_local_target_through_MigrationSession()
    {
        var src = TempDir("share");
        var files = MakeShare(src, 24);
        var settings = LocalSettings("real");
        var me = Thread.CurrentThread.ManagedThreadId;
        var kinds = new List<MigrationEventKind>();
        var handlerThreads = new HashSet<int>();
        var engineThreads = new HashSet<int>();
        using (var s = new MigrationSession(settings))
        {
            var id = s.AddFileShareTask(src, "local", "Documents", "Imported");
            Guid g;
            Assert(Guid.TryParse(id, out g), "task id is a GUID: " + id);
            var dup = Throws<SpmtException>(() => s.AddFileShareTask(src, "local", "Documents", "Imported"), "duplicate task");
            Eq(SpmtStatus.InvalidArgument, dup.Status, "duplicate status");
            Assert(dup.Message.Contains("duplicate"), "SPMT's words: " + dup.Message);
            Eq("NotStarted", s.GetStatus().Status, "before start");

            s.EventReceived += (o, e) =>
            {
                kinds.Add(e.Event.Kind);
                handlerThreads.Add(Thread.CurrentThread.ManagedThreadId);
                engineThreads.Add(e.Event.EngineThreadId);
            };
            s.Start();
            Throws<SpmtException>(() => s.Start(), "start while running");
            Assert(s.WaitForCompletion(180000), "the run finishes");
            Assert(!s.IsRunning, "not running after");

            Assert(kinds.Contains(MigrationEventKind.TaskStarted), "TaskStarted");
            Assert(kinds.Contains(MigrationEventKind.TaskFinished), "TaskFinished");
            Eq(MigrationEventKind.SessionFinished, kinds.Last(), "SessionFinished last");
            Assert(handlerThreads.SequenceEqual(new[] { me }), "handlers ran on the caller's thread only");
            Assert(!engineThreads.Contains(me), "callbacks came from engine threads");

            var st = s.GetStatus();
            Eq("Finished", st.Status, "session Status");
            var t = st.StatusOfTasks.Single();
            Eq(g, t.TaskId, "TaskId");
            Eq("COMPLETED", t.Status, "task Status: " + t.ErrorMsg);
            Eq(100, t.MigratingProgressPercentage, "100%");
            Eq((long)files.Count, t.NumActuallyMigratedFiles, "every file migrated");
            Eq(0L, t.NumFailedFiles, "none failed");
            Eq(src, t.SourceURI, "SourceURI");
        }
        // The emulator materialises the library as a folder tree under LocalTargetRoot.
        var target = settings.LocalTargetRoot;
        foreach (var f in files)
        {
            var name = Path.GetFileName(f.Key);
            var found = Directory.GetFiles(target, name, SearchOption.AllDirectories).Where(p => p.Replace('\\', '/').EndsWith(f.Key.Replace('\\', '/'))).ToList();
            Eq(1, found.Count, "one copy of " + f.Key + " under " + target);
            Assert(File.ReadAllBytes(found[0]).SequenceEqual(f.Value), "same bytes: " + f.Key);
        }
    }

    static void T_events_from_several_native_threads_arrive_on_the_callers_thread()
    {
        var sink = MigrationSession.BenchCallbacks(4, 5000);
        var me = Thread.CurrentThread.ManagedThreadId;
        var engine = new HashSet<int>();
        var n = 0;
        MigrationEvent e;
        while (sink.TryTake(out e, 0))
        {
            n++;
            engine.Add(e.EngineThreadId);
            Assert(e.ItemPath != null && e.ItemPath.StartsWith("bench/"), "strings copied out of the native event");
        }
        Eq(20000, n, "every event queued");
        Assert(engine.Count >= 2, "from several native threads (" + engine.Count + ")");
        Assert(!engine.Contains(me), "none on the caller's thread");
        Assert(sink.TakeFault() == null, "no fault");
    }

    static void T_an_exception_inside_the_native_callback_is_caught_and_parked_for_the_caller()
    {
        var calls = 0;
        MigrationSession.CallbackProbe = ev => { if (Interlocked.Increment(ref calls) == 100) throw new InvalidTimeZoneException("probe"); };
        EventSink sink;
        try { sink = MigrationSession.BenchCallbacks(2, 1000); }
        finally { MigrationSession.CallbackProbe = null; }
        var fault = sink.TakeFault();
        Assert(fault is InvalidTimeZoneException, "the exception was caught on the engine thread and parked: " + fault);
        var n = 0;
        MigrationEvent e;
        while (sink.TryTake(out e, 0)) n++;
        Eq(1999, n, "only the throwing event was lost; the process is alive");
    }

    static void T_a_throwing_event_handler_does_not_crash_the_process_and_the_run_goes_on()
    {
        var src = TempDir("share-throw");
        MakeShare(src, 6);
        using (var s = new MigrationSession(LocalSettings("throw")))
        {
            s.AddFileShareTask(src, "local", "Documents");
            var thrown = 0;
            EventHandler<MigrationEventArgs> bad = (o, e) => { thrown++; throw new InvalidOperationException("user code failed"); };
            s.EventReceived += bad;
            s.Start();
            var ex = Throws<MigrationEventHandlerException>(() => s.WaitForCompletion(180000), "handler exception surfaces");
            Assert(ex.InnerException is InvalidOperationException && ex.InnerException.Message == "user code failed", "inner is the handler's");
            s.EventReceived -= bad;
            Assert(s.WaitForCompletion(180000), "the run still finishes");
            Eq(1, thrown, "thrown once");
            Eq("COMPLETED", s.GetStatus().StatusOfTasks.Single().Status, "task completed");
        }
    }

    static void T_pulled_events_and_an_incremental_second_round()
    {
        var src = TempDir("share-pull");
        MakeShare(src, 5);
        using (var s = new MigrationSession(LocalSettings("pull")))
        {
            s.AddFileShareTask(src, "local", "Documents");
            s.Start();
            Assert(s.WaitForCompletion(180000), "round 1");
            File.WriteAllText(Path.Combine(src, "new.txt"), "new in round 2");
            s.StartPulling();
            var kinds = new List<MigrationEventKind>();
            MigrationEvent e;
            var deadline = DateTime.UtcNow.AddMinutes(3);
            while (!s.EventsCompleted && DateTime.UtcNow < deadline)
                if (s.TryTakeEvent(out e, 500)) kinds.Add(e.Kind);
            Assert(s.EventsCompleted, "pulled to the end (SPMT_STATUS_DONE)");
            Eq(MigrationEventKind.SessionFinished, kinds.Last(), "last pulled event");
            Assert(s.WaitForCompletion(10000), "finished");
            Eq("COMPLETED", s.GetStatus().StatusOfTasks.Single().Status, "round 2 completed");
        }
    }

    [System.Runtime.InteropServices.DllImport("libc.so.6", SetLastError = true)]
    static extern int symlink(string target, string linkpath);

    /// <summary>The CLI's --check-content, --propagate-deletes and --follow-symlinks, set from
    /// .NET through the C ABI's settings JSON, change what the engine does.</summary>
    static void T_check_content_propagate_deletes_and_follow_symlinks_reach_the_engine()
    {
        var src = Path.Combine(TempDir("opts"), "share");
        Directory.CreateDirectory(src);
        var keep = Path.Combine(src, "keep.txt");
        File.WriteAllText(keep, "same size A");
        var stamp = new DateTime(2024, 1, 2, 3, 4, 5, DateTimeKind.Utc);
        File.SetLastWriteTimeUtc(keep, stamp);
        File.WriteAllText(Path.Combine(src, "gone.txt"), "to delete");
        var real = Path.Combine(TempDir("opts-real"), "linked.txt");
        File.WriteAllText(real, "through a link");
        Eq(0, symlink(real, Path.Combine(src, "link.txt")), "symlink()");
        var settings = LocalSettings("opts");
        settings.CheckContent = true;
        settings.PropagateDeletes = true;
        settings.FollowSymlinks = true;
        using (var s = new MigrationSession(settings))
        {
            s.AddFileShareTask(src, "local", "Documents");
            s.Start();
            Assert(s.WaitForCompletion(120000), "round 1 ends");
            var lib = Path.Combine(settings.LocalTargetRoot, "sites", "local", "Documents", "share");
            Eq("through a link", File.ReadAllText(Path.Combine(lib, "link.txt")), "FollowSymlinks: the link's file");
            Eq("to delete", File.ReadAllText(Path.Combine(lib, "gone.txt")), "round 1 sent gone.txt");
            // Same size, same modified time, other bytes: only a content check sees it.
            File.WriteAllText(keep, "same size B");
            File.SetLastWriteTimeUtc(keep, stamp);
            File.Delete(Path.Combine(src, "gone.txt"));
            s.Start();
            Assert(s.WaitForCompletion(120000), "round 2 ends");
            Eq("same size B", File.ReadAllText(Path.Combine(lib, "keep.txt")), "CheckContent: the change is sent");
            Assert(!File.Exists(Path.Combine(lib, "gone.txt")), "PropagateDeletes: gone from the library");
            var t = s.GetStatus().StatusOfTasks[0];
            Eq(1L, t.NumDeletedItems, "one deletion recorded");
        }
    }

    static void T_remove_task_and_engine_errors_carry_status_and_message()
    {
        using (var s = new MigrationSession(LocalSettings("remove")))
        {
            var a = s.AddFileShareTask("/srv/a", "local", "Documents");
            s.AddFileShareTask("/srv/b", "local", "Documents");
            s.RemoveTask(a);
            Eq(1, s.GetStatus().StatusOfTasks.Count, "one left");
            Eq(SpmtStatus.NotFound, Throws<SpmtException>(() => s.RemoveTask(a), "again").Status, "unknown id");
            // A SharePoint library needs its title; -MigrateAll (every library at once) is not supported.
            var e = Throws<SpmtException>(() => s.AddTask("{\"SourcePath\":\"http://onprem/sites/a\",\"TargetPath\":\"local\",\"TargetList\":\"D\"}"), "SP source");
            Eq(SpmtStatus.InvalidArgument, e.Status, "a SharePoint source without SourceList");
            Eq(true, e.Message.Contains("SourceList"), "the message names SourceList: " + e.Message);
            e = Throws<SpmtException>(() => s.AddTask("{\"SharePointSourceSiteUrl\":\"http://onprem/sites/a\",\"MigrateAll\":true,\"TargetPath\":\"local\"}"), "cmdlet MigrateAll");
            Eq(SpmtStatus.NotSupported, e.Status, "MigrateAll is not supported");
            // The cmdlets' form with its farm account is a task; the password is not in its status.
            var sp = s.AddTask("{\"SharePointSourceSiteUrl\":\"http://onprem/sites/a\",\"SourceList\":\"D\",\"TargetPath\":\"local\",\"TargetList\":\"D\","
                + "\"SharePointSourceCredential\":{\"UserName\":\"CONTOSO\\\\u\",\"Password\":\"farm-secret-9\"}}");
            Eq(2, s.GetStatus().StatusOfTasks.Count, "the SharePoint task is added");
            var shown = string.Join(" ", s.GetStatus().StatusOfTasks.Select(t => t.SourceURI + " " + t.ToString()));
            Assert(shown.Contains("http://onprem/sites/a") && !shown.Contains("farm-secret-9"), "the site, never the password: " + shown);
            s.RemoveTask(sp);
            e = Throws<SpmtException>(() => s.AddTask("{\"SourcePath\":\"/x\",\"TargetPath\":\"https://contoso.sharepoint.com/sites/a\",\"TargetList\":\"D\"}"), "no token");
            Assert(e.Message.Contains("AccessToken"), "names the fix: " + e.Message);
        }
        var bad = Throws<SpmtException>(() => MigrationSession.FromJson("{\"MigrationType\":\"WORKFLOW\"}").Dispose(), "workflow");
        Eq("MigrationType", bad.Key, "the engine names the setting");
        Assert(bad.Feature.Contains("workflow") && bad.Hint.Contains("CONTENT"), bad.Feature + " / " + bad.Hint);
        Eq(SpmtStatus.NotSupported, bad.Status, "NotSupported");
        Assert(bad.Message.Contains("WORKFLOW"), bad.Message);
        Eq(SpmtStatus.InvalidJson, Throws<SpmtException>(() => MigrationSession.FromJson("{").Dispose(), "json").Status, "InvalidJson");
    }

    // Register-SPMTMigration's parameters meet the engine's one table of settings: honoured,
    // noted (deprecated) or refused as not supported, each with the parameter named.

    static SpmtException Refused(Dictionary<string, object> bound)
    {
        var settings = RegisterParameters.ToSettings(bound);
        settings.WorkingFolder = Path.Combine(TempDir("refused"), "w");
        return Throws<SpmtException>(() => new MigrationSession(settings).Dispose(), string.Join(",", bound.Keys));
    }

    static void T_register_features_spmt_lacks_are_refused_by_the_engine_naming_them()
    {
        var cases = new[]
        {
            Tuple.Create(P("MigrationType", "WORKFLOW"), "workflow", "MigrationType"),
            Tuple.Create(P("DefaultFlowOwnerEmail", "a@b.c"), "workflow", "DefaultFlowOwnerEmail"),
            Tuple.Create(P("MigrateNavigation", true), "SharePoint Server", "MigrateNavigation"),
            Tuple.Create(P("LookupReferencePolicy", LookupReferenceScanPolicyEnum.SKIP_AND_CONTINUE), "SharePoint Server", "LookupReferencePolicy"),
            Tuple.Create(P("SkipListsWithName", new List<string> { "a", "b" }), "SharePoint Server", "SkipListsWithName"),
            Tuple.Create(P("UseCustomAzureStorage", true), "custom Azure storage", "UseCustomAzureStorage"),
            Tuple.Create(P("PreserveUserPermissionsForFileShare", true), "permissions", "PreserveUserPermissionsForFileShare"),
            Tuple.Create(P("EnableEncryption", false), "unencrypted", "EnableEncryption"),
            Tuple.Create(P("StartMigrationAutomaticallyWhenNoScanIssue", false), "pausing", "StartMigrationAutomaticallyWhenNoScanIssue"),
        };
        foreach (var c in cases)
        {
            var e = Refused(c.Item1);
            Eq(SpmtStatus.NotSupported, e.Status, c.Item3 + " status");
            Eq(c.Item3, e.Key, "the parameter is named");
            Assert(e.Feature.Contains(c.Item2) && e.Message.Contains(c.Item3) && e.Message.Contains("not supported"), "message: " + e.Message);
            string id;
            Eq("NotImplemented", ErrorKinds.Category(e, out id), c.Item3 + " category");
            Eq("Spmt.NotSupported." + c.Item3, id, "error id names the parameter");
        }
        Eq(SpmtStatus.InvalidArgument, Refused(P("MigrationType", "BOTH")).Status, "bad MigrationType");
        Eq(SpmtStatus.InvalidArgument, Refused(P("ReplacementOfInvalidChar", "__")).Status, "two characters");
        // Deprecated ones bind and are noted, one note each.
        var s = RegisterParameters.ToSettings(P("MigrateOneNoteFolderAsOneNoteNoteBook", true, "Incremental", true,
            "MigrateFilesAndFoldersWithInvalidChars", true, "EnableMultiRound", true));
        s.WorkingFolder = Path.Combine(TempDir("notes"), "w");
        using (var session = new MigrationSession(s))
        {
            var notes = session.GetStatus().Notes;
            Eq(4, notes.Count, "one note each: " + string.Join(" | ", notes));
            Assert(notes.Any(x => x.Contains("MigrateOneNoteFolderAsOneNoteNoteBook is deprecated")), "OneNote note");
            Assert(notes.Any(x => x.Contains("EnableMultiRound")), "EnableMultiRound is explained");
        }
    }

    static void T_every_register_parameter_of_the_cmdlet_is_known_to_the_engine()
    {
        var cmd = typeof(Spmt.PowerShell.Commands.RegisterSPMTMigrationCommand);
        PropertyInfo[] props;
        try { props = cmd.GetProperties(BindingFlags.Public | BindingFlags.Instance | BindingFlags.DeclaredOnly); }
        catch (Exception e) when (e is BadImageFormatException || e is FileNotFoundException || e is TypeLoadException)
        {
            // .NET refuses to load a reference assembly (PowerShell Standard) even for reflection.
            Console.WriteLine("     (skipped: the cmdlet class cannot be loaded without PowerShell here: " + e.GetType().Name + ")");
            return;
        }
        var n = 0;
        foreach (var p in props)
        {
            if (!p.GetCustomAttributesData().Any(a => a.AttributeType.Name == "ParameterAttribute")) continue;
            n++;
            var t = p.PropertyType;
            object v = t == typeof(bool) ? (object)false : t == typeof(string) ? "" : t == typeof(int) ? (object)1
                : t == typeof(DateTime) ? (object)DateTime.UtcNow : t == typeof(List<string>) ? new List<string>()
                : t.IsEnum ? Enum.GetValues(t).GetValue(0) : t.Name == "SwitchParameter" ? (object)true : "user";
            var settings = RegisterParameters.ToSettings(P(p.Name, v));
            settings.WorkingFolder = Path.Combine(TempDir("known"), "w");
            try { new MigrationSession(settings).Dispose(); }
            catch (SpmtException e) when (e.Status == SpmtStatus.NotSupported) { }
            catch (SpmtException e) { throw new Exception("-" + p.Name + " is not known to the engine: " + e.Message); }
        }
        Assert(n >= 45, "Register-SPMTMigration declares SPMT's parameters (" + n + ")");
    }

    static int MakeAndDropSession()
    {
        var s = MigrationSession.FromJson("{\"WorkingFolder\":\"" + Path.Combine(TempDir("drop"), "w").Replace("\\", "\\\\") + "\"}");
        s.AddFileShareTask("/srv/x", "local", "Documents");
        return s.GetHashCode();
    }

    static void T_safe_handles_release_sessions_and_errors_exactly_once()
    {
        var before = SessionHandle.Released;
        var s = new MigrationSession(LocalSettings("dispose"));
        s.Dispose();
        s.Dispose();
        Eq(before + 1, SessionHandle.Released, "Dispose frees once");
        Assert(s.IsDisposed, "closed");
        Throws<ObjectDisposedException>(() => s.GetStatusJson(), "calls after Dispose");

        var errors = ErrorHandle.Released;
        Throws<SpmtException>(() => MigrationSession.FromJson("{\"Bogus\":1}"), "bad setting");
        Eq(errors + 1, ErrorHandle.Released, "the error object was freed");

        before = SessionHandle.Released;
        MakeAndDropSession();
        for (var i = 0; i < 5 && SessionHandle.Released == before; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }
        Eq(before + 1, SessionHandle.Released, "an undisposed session is freed by its SafeHandle's finalizer");
    }

    static void T_stop_ends_a_running_session()
    {
        var src = TempDir("share-stop");
        MakeShare(src, 400);
        using (var s = new MigrationSession(LocalSettings("stop")))
        {
            s.AddFileShareTask(src, "local", "Documents");
            s.Start();
            var stopped = s.Stop();
            Assert(s.WaitForCompletion(120000), "finishes after stop");
            var t = s.GetStatus().StatusOfTasks.Single();
            Assert(!stopped || t.Status != "INPROGRESS", "not left in progress: " + t.Status);
            Assert(!s.Stop(), "stop when idle says so");
        }
    }

    // ------------------------------------------------------------------------------------------
    // The cmdlets' operations, end to end, without PowerShell

    static void T_cmdlet_logic_register_add_start_get_remove_unregister()
    {
        var src = TempDir("share-host");
        var files = MakeShare(src, 9);
        var d = TempDir("host");
        var warnings = new List<string>();
        var settings = RegisterParameters.ToSettings(P("WorkingFolder", Path.Combine(d, "w"), "LocalTargetRoot", Path.Combine(d, "t"),
            "ScanOnly", false, "MigrateOneNoteFolderAsOneNoteNoteBook", false, "Force", true));
        var registered = SessionHost.Register(settings, true, warnings);
        Eq(1, registered.GetStatus().Notes.Count, "the engine notes the deprecated parameter");
        var ids = SessionHost.AddTasks(TaskParameters.ToTaskJson(TaskParameters.FileShareSet,
            P("FileShareSource", src, "TargetSiteUrl", "local", "TargetList", "Documents"), new List<string>()));
        SessionHost.AddTasks(TaskParameters.ToTaskJson(TaskParameters.JsonSet,
            P("JsonDefinition", "{\"SourcePath\":\"" + Path.Combine(d, "missing").Replace("\\", "\\\\") + "\",\"TargetPath\":\"local\",\"TargetList\":\"Documents\"}"), new List<string>()));
        var problems = SessionHost.Validate();
        Assert(problems.Count == 1 && problems[0].Contains("does not exist"), "validation names the missing source: " + string.Join("; ", problems));

        var session = SessionHost.View();
        var missing = session.StatusOfTasks.Single(t => t.SourceURI.EndsWith("missing"));
        SessionHost.RemoveTask(missing.TaskId, false, warnings);
        Eq(0, SessionHost.Validate().Count, "valid now");

        var s = SessionHost.Start();
        var me = Thread.CurrentThread.ManagedThreadId;
        var off = 0;
        var records = new List<ProgressUpdate>();
        var ended = SessionHost.ShowProgress(s, new ProgressView(), () => false,
            u => { records.Add(u); if (Thread.CurrentThread.ManagedThreadId != me) off++; }, m => { });
        Assert(ended, "foreground run ends");
        Eq(0, off, "progress written on the pipeline thread only");
        Assert(records.Count > 0 && records.All(r => !string.IsNullOrEmpty(r.Activity)), "progress records");
        Assert(records.Last().Completed, "closed with Completed records");

        Eq("Finished", session.Status, "the same object now shows Finished");
        var task = session.StatusOfTasks.Single();
        Eq(ids[0], task.TaskId.ToString(), "TaskId");
        Eq("COMPLETED", task.Status, "COMPLETED");
        Eq((long)files.Count, task.NumActuallyMigratedFiles, "migrated");
        Assert(SessionHost.Summary(s.GetStatus()).Single().Text.Contains("COMPLETED"), "summary line");

        Assert(SessionHost.Unregister(), "unregistered");
        Throws<InvalidOperationException>(() => SessionHost.View(), "nothing registered");
        Eq("Finished", session.Status, "the object keeps its last state");
    }

    static void T_cmdlet_logic_register_without_force_refuses_a_running_session()
    {
        var src = TempDir("share-force");
        MakeShare(src, 300);
        var w = new List<string>();
        SessionHost.Register(LocalSettings("force1"), false, w);
        SessionHost.AddTasks(new[] { MigrationSession.FileShareTaskJson(src, "local", "Documents", null) });
        SessionHost.Start();
        if (SessionHost.Require().IsRunning)
            Throws<InvalidOperationException>(() => SessionHost.Register(LocalSettings("force2"), false, w), "running, no -Force");
        SessionHost.Register(LocalSettings("force3"), true, w);
        Eq(0, SessionHost.Require().GetStatus().StatusOfTasks.Count, "a new, empty session");
        SessionHost.Unregister();
    }
}
