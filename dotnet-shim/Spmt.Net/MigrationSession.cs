using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using System.Threading;

namespace Spmt
{
    /// <summary>
    /// A migration session of the spmt engine: settings, tasks, runs (rounds), progress, status.
    /// No PowerShell needed. Engine threads never run your code: the native callback only queues
    /// events; <see cref="DispatchEvents"/>, <see cref="WaitForCompletion"/> and
    /// <see cref="TryTakeEvent"/> hand them over on the thread that calls them.
    /// </summary>
    /// <example><code>
    /// using (var s = new MigrationSession(new MigrationSettings { WorkingFolder = "/var/spmt/w1" }))
    /// {
    ///     s.AddFileShareTask("/srv/share/dept1", "local", "Documents");
    ///     s.EventReceived += (o, e) => Console.WriteLine(e.Event);
    ///     s.Start();
    ///     s.WaitForCompletion(Timeout.Infinite);
    ///     foreach (var t in s.GetStatus().StatusOfTasks) Console.WriteLine(t);
    /// }
    /// </code></example>
    public sealed class MigrationSession : IMigrationEventSource, IDisposable
    {
        /// <summary>The C ABI version this assembly speaks (checked against spmt_abi_version() at load).</summary>
        public const uint AbiVersion = Native.AbiVersion;

        /// <summary>Queued events kept per run when nobody takes them (older ones are dropped first).</summary>
        public const int EventQueueCapacity = 10000;

        // Kept alive for the process: the engine may call them on any thread, at any time a run is live.
        static readonly NativeEventCallback OnEventDelegate = OnEvent;
        static readonly NativeFreeCallback OnFreeDelegate = OnFree;

        /// <summary>Test hook: runs inside the native callback, on the engine thread.</summary>
        internal static Action<MigrationEvent> CallbackProbe;

        readonly SessionHandle handle;
        readonly object gate = new object();
        EventSink sink;
        bool pulling;
        bool pullDone;
        int dispatching;

        /// <summary>The settings this session was registered with.</summary>
        public MigrationSettings Settings { get; private set; }

        /// <summary>Raised for each event, on the thread that calls DispatchEvents / WaitForCompletion.</summary>
        public event EventHandler<MigrationEventArgs> EventReceived;

        /// <summary>The native library's ABI version (loads and checks the library).</summary>
        public static uint NativeAbiVersion
        {
            get
            {
                NativeLoader.EnsureLoaded();
                return Native.spmt_abi_version();
            }
        }

        /// <summary>Where the native library was loaded from (null: the system's search path).</summary>
        public static string NativeLibraryPath
        {
            get
            {
                NativeLoader.EnsureLoaded();
                return NativeLoader.LoadedFrom;
            }
        }

        public MigrationSession(MigrationSettings settings) : this(settings ?? new MigrationSettings(), (settings ?? new MigrationSettings()).ToJson()) { }

        /// <summary>From the engine's settings JSON (Register-SPMTMigration's parameter names).</summary>
        public static MigrationSession FromJson(string settingsJson)
        {
            return new MigrationSession(null, settingsJson);
        }

        MigrationSession(MigrationSettings settings, string json)
        {
            NativeLoader.EnsureLoaded();
            Settings = settings;
            ErrorHandle err;
            SessionHandle h;
            var st = Native.spmt_session_new(Utf8.ToNative(json), out h, out err);
            if (st != SpmtStatus.Ok && h != null) h.Dispose();
            Native.Check(st, err, "spmt_session_new");
            handle = h;
        }

        /// <summary>Adds a task in SPMT's JSON task format ({SourcePath, TargetPath, TargetList,
        /// TargetListRelativePath, Settings}); returns its id (a GUID string).</summary>
        public string AddTask(string taskJson)
        {
            if (taskJson == null) throw new ArgumentNullException(nameof(taskJson));
            NativeStringHandle id;
            ErrorHandle err;
            var st = Native.spmt_session_add_task(handle, Utf8.ToNative(taskJson), out id, out err);
            Native.Check(st, err, "spmt_session_add_task");
            return id.TakeString();
        }

        /// <summary>Adds a file-share task. <paramref name="targetSiteUrl"/> "local" is the
        /// embedded local target.</summary>
        public string AddFileShareTask(string fileShareSource, string targetSiteUrl, string targetList, string targetListRelativePath = null)
        {
            return AddTask(FileShareTaskJson(fileShareSource, targetSiteUrl, targetList, targetListRelativePath));
        }

        /// <summary>The SPMT JSON task for a file share.</summary>
        public static string FileShareTaskJson(string fileShareSource, string targetSiteUrl, string targetList, string targetListRelativePath)
        {
            var o = new Dictionary<string, object>();
            o["SourcePath"] = fileShareSource;
            o["TargetPath"] = targetSiteUrl;
            o["TargetList"] = targetList;
            if (!string.IsNullOrEmpty(targetListRelativePath)) o["TargetListRelativePath"] = targetListRelativePath;
            return Json.Serialize(o);
        }

        public void RemoveTask(string taskId)
        {
            if (taskId == null) throw new ArgumentNullException(nameof(taskId));
            ErrorHandle err;
            Native.Check(Native.spmt_session_remove_task(handle, Utf8.ToNative(taskId), out err), err, "spmt_session_remove_task");
        }

        /// <summary>Starts a round over every task and returns at once; events queue up for
        /// DispatchEvents / WaitForCompletion / TryTakeEvent. Starting again after a run finished
        /// runs the next, incremental round.</summary>
        public void Start()
        {
            lock (gate)
            {
                var s = new EventSink(EventQueueCapacity);
                // The engine owns this GCHandle until it calls OnFree (after the run's last
                // callback); a refused start leaves it ours.
                var gch = GCHandle.Alloc(s);
                ErrorHandle err;
                SpmtStatus st;
                try { st = Native.spmt_session_start(handle, OnEventDelegate, GCHandle.ToIntPtr(gch), OnFreeDelegate, out err); }
                catch { gch.Free(); throw; }
                if (st != SpmtStatus.Ok) gch.Free();
                Native.Check(st, err, "spmt_session_start");
                sink = s;
                pulling = false;
            }
        }

        /// <summary>Starts a round whose events are pulled from the engine's own queue
        /// (spmt_session_next_event) by TryTakeEvent, instead of a callback.</summary>
        public void StartPulling()
        {
            lock (gate)
            {
                ErrorHandle err;
                Native.Check(Native.spmt_session_start(handle, null, IntPtr.Zero, null, out err), err, "spmt_session_start");
                sink = null;
                pulling = true;
                pullDone = false;
            }
        }

        /// <summary>True while a run is going.</summary>
        public bool IsRunning
        {
            get { return Native.spmt_session_wait(handle, 0) == SpmtStatus.Timeout; }
        }

        /// <summary>Events dropped from the current run's queue because nobody took them.</summary>
        public long DroppedEvents { get { var s = sink; return s == null ? 0 : s.Dropped; } }

        /// <summary>True once the current run's last event has been taken and the run has ended
        /// (its status is final, every callback has returned).</summary>
        public bool EventsCompleted
        {
            get
            {
                var s = sink;
                var drained = pulling ? pullDone : s == null || (s.Ended && s.IsEmpty);
                // The engine delivers SessionFinished just before it marks the run finished.
                return drained && Native.spmt_session_wait(handle, 0) != SpmtStatus.Timeout;
            }
        }

        /// <summary>Takes the next event without raising EventReceived: false when none came within
        /// <paramref name="timeoutMs"/> (-1: no limit) or the run's events are all taken.</summary>
        public bool TryTakeEvent(out MigrationEvent e, int timeoutMs)
        {
            if (pulling) return TryPull(out e, timeoutMs);
            var s = sink;
            e = null;
            if (s == null) return false;
            var ok = s.TryTake(out e, timeoutMs);
            var fault = s.TakeFault();
            if (fault != null) throw new MigrationCallbackException(fault);
            return ok;
        }

        bool TryPull(out MigrationEvent e, int timeoutMs)
        {
            e = null;
            if (pullDone) return false;
            EventHandle h;
            var st = Native.spmt_session_next_event(handle, timeoutMs < 0 ? Native.Forever : (uint)timeoutMs, out h);
            using (h)
            {
                if (st == SpmtStatus.Ok)
                {
                    e = MigrationEvent.FromNative(h.DangerousGetHandle());
                    return true;
                }
            }
            if (st == SpmtStatus.Done) { pullDone = true; return false; }
            if (st == SpmtStatus.Timeout) return false;
            throw SpmtException.From(st, "spmt_session_next_event", null);
        }

        /// <summary>Raises EventReceived, on this thread, for every queued event, waiting up to
        /// <paramref name="timeoutMs"/> for the first. Returns how many. A handler's exception
        /// comes out as <see cref="MigrationEventHandlerException"/>; the events after it stay queued.</summary>
        public int DispatchEvents(int timeoutMs)
        {
            if (Interlocked.Exchange(ref dispatching, 1) == 1)
                throw new InvalidOperationException("DispatchEvents is already running (one consumer at a time; do not call it from an EventReceived handler)");
            try
            {
                var n = 0;
                MigrationEvent e;
                var wait = timeoutMs;
                while (TryTakeEvent(out e, wait))
                {
                    n++;
                    wait = 0;
                    var h = EventReceived;
                    if (h == null) continue;
                    try { h(this, new MigrationEventArgs(e)); }
                    catch (Exception ex) { throw new MigrationEventHandlerException(e, ex); }
                }
                return n;
            }
            finally { Interlocked.Exchange(ref dispatching, 0); }
        }

        /// <summary>Dispatches events until the run has finished (true) or the timeout passed
        /// (false); -1 waits without limit.</summary>
        public bool WaitForCompletion(int timeoutMs)
        {
            var deadline = timeoutMs < 0 ? DateTime.MaxValue : DateTime.UtcNow.AddMilliseconds(timeoutMs);
            while (true)
            {
                var left = deadline == DateTime.MaxValue ? 250 : (int)Math.Max(0, Math.Min(250, (deadline - DateTime.UtcNow).TotalMilliseconds));
                var n = DispatchEvents(left);
                if (EventsCompleted) return true;
                if (n == 0 && left > 0) Thread.Sleep(5);
                if (!pulling && sink == null)
                {
                    // Never started with a queue: only the engine can say.
                    var st = Native.spmt_session_wait(handle, (uint)left);
                    if (st == SpmtStatus.Ok) return true;
                    if (st != SpmtStatus.Timeout) throw SpmtException.From(st, "spmt_session_wait", "the session has not been started");
                }
                if (DateTime.UtcNow >= deadline) return false;
            }
        }

        /// <summary>The session's status as JSON, in Get-SPMTMigration's shape.</summary>
        public string GetStatusJson()
        {
            NativeStringHandle json;
            ErrorHandle err;
            Native.Check(Native.spmt_session_status(handle, out json, out err), err, "spmt_session_status");
            return json.TakeString();
        }

        public MigrationSessionStatus GetStatus()
        {
            return MigrationSessionStatus.Parse(GetStatusJson());
        }

        /// <summary>Asks a running session to stop and returns at once (WaitForCompletion to see it
        /// end). False when it was not running.</summary>
        public bool Stop()
        {
            var st = Native.spmt_session_stop(handle);
            if (st == SpmtStatus.InvalidState) return false;
            Native.Check(st, null, "spmt_session_stop");
            return true;
        }

        public bool IsDisposed { get { return handle.IsClosed; } }

        /// <summary>Stops a running session and frees it (waits about 10 s at most for its threads).</summary>
        public void Dispose()
        {
            handle.Dispose();
        }

        static void OnEvent(IntPtr userData, IntPtr evt)
        {
            // Engine thread: copy, queue, return. No exception may unwind into native frames.
            EventSink s = null;
            try
            {
                s = (EventSink)GCHandle.FromIntPtr(userData).Target;
                var e = MigrationEvent.FromNative(evt);
                var probe = CallbackProbe;
                if (probe != null) probe(e);
                s.Add(e);
            }
            catch (Exception ex)
            {
                try { if (s != null) s.Park(ex); }
                catch (Exception fatal) { Environment.FailFast("spmt: an exception in the event callback could not be recorded", fatal); }
            }
        }

        static void OnFree(IntPtr userData)
        {
            try
            {
                var gch = GCHandle.FromIntPtr(userData);
                var s = gch.Target as EventSink;
                gch.Free();
                if (s != null) s.Release();
            }
            catch (Exception fatal) { Environment.FailFast("spmt: releasing the event queue failed", fatal); }
        }

        /// <summary>Tests: sends threads × perThread events through the same callback path from
        /// native threads (issue 5's spmt_bench_callbacks) into a fresh queue.</summary>
        internal static EventSink BenchCallbacks(uint threads, ulong perThread)
        {
            NativeLoader.EnsureLoaded();
            var s = new EventSink(int.MaxValue);
            var gch = GCHandle.Alloc(s);
            try { Native.spmt_bench_callbacks(OnEventDelegate, GCHandle.ToIntPtr(gch), threads, perThread); }
            finally { gch.Free(); }
            s.Release();
            return s;
        }
    }
}
