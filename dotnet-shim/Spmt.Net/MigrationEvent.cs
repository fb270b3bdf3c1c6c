using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using System.Threading;

namespace Spmt
{
    /// <summary>One progress event, copied out of the native spmt_event_t (which is valid only
    /// during the callback). Events are coalesced by the engine: a few per second per task.</summary>
    public sealed class MigrationEvent
    {
        public MigrationEventKind Kind { get; set; }
        public MigrationOutcome Outcome { get; set; }
        /// <summary>The task's id (a GUID string); null for session-level events.</summary>
        public string TaskId { get; set; }
        /// <summary>Source-relative path of an item (per-item events only).</summary>
        public string ItemPath { get; set; }
        /// <summary>SPMT's error code of a failed item, e.g. 0x01110010.</summary>
        public string Code { get; set; }
        public string Message { get; set; }
        public long ItemsDone { get; set; }
        public long ItemsTotal { get; set; }
        public long BytesDone { get; set; }
        public long BytesTotal { get; set; }
        public long ItemsFailed { get; set; }
        public long ItemsSkipped { get; set; }
        /// <summary>Managed id of the (engine) thread the native callback ran on.</summary>
        public int EngineThreadId { get; set; }

        internal static MigrationEvent FromNative(IntPtr p)
        {
            var n = (NativeEvent)Marshal.PtrToStructure(p, typeof(NativeEvent));
            return new MigrationEvent
            {
                Kind = (MigrationEventKind)n.Kind,
                Outcome = (MigrationOutcome)n.Outcome,
                TaskId = Utf8.FromNative(n.TaskId),
                ItemPath = Utf8.FromNative(n.ItemPath),
                Code = Utf8.FromNative(n.Code),
                Message = Utf8.FromNative(n.Message),
                ItemsDone = (long)n.ItemsDone,
                ItemsTotal = (long)n.ItemsTotal,
                BytesDone = (long)n.BytesDone,
                BytesTotal = (long)n.BytesTotal,
                ItemsFailed = (long)n.ItemsFailed,
                ItemsSkipped = (long)n.ItemsSkipped,
                EngineThreadId = Thread.CurrentThread.ManagedThreadId,
            };
        }

        public override string ToString()
        {
            return Kind + (TaskId != null ? " " + TaskId : "") + " " + ItemsDone + "/" + ItemsTotal +
                   (Message != null ? " " + Message : "");
        }
    }

    public sealed class MigrationEventArgs : EventArgs
    {
        public MigrationEvent Event { get; private set; }
        public MigrationEventArgs(MigrationEvent e) { Event = e; }
    }

    /// <summary>The native callback's target (through a GCHandle as user_data): a bounded queue
    /// the engine threads add to and the caller's thread takes from. Nothing else runs on engine
    /// threads.</summary>
    internal sealed class EventSink
    {
        readonly object gate = new object();
        readonly Queue<MigrationEvent> queue = new Queue<MigrationEvent>();
        readonly int capacity;
        long dropped;
        bool finished;
        bool released;
        Exception fault;

        public EventSink(int capacity) { this.capacity = capacity; }

        /// <summary>Events dropped because nobody took them (oldest first; progress events are
        /// cumulative, so the newest carry the state).</summary>
        public long Dropped { get { lock (gate) return dropped; } }

        /// <summary>The run's last event was queued, or the engine released this sink.</summary>
        public bool Ended { get { lock (gate) return finished || released; } }

        public void Add(MigrationEvent e)
        {
            lock (gate)
            {
                if (released) return;
                if (queue.Count >= capacity)
                {
                    queue.Dequeue();
                    dropped++;
                }
                queue.Enqueue(e);
                if (e.Kind == MigrationEventKind.SessionFinished) finished = true;
                Monitor.PulseAll(gate);
            }
        }

        /// <summary>Called by the engine's user_data finalizer: no callback of this run follows.</summary>
        public void Release()
        {
            lock (gate)
            {
                released = true;
                Monitor.PulseAll(gate);
            }
        }

        public void Park(Exception e)
        {
            lock (gate)
            {
                if (fault == null) fault = e;
                Monitor.PulseAll(gate);
            }
        }

        /// <summary>The first exception parked by the callback, once.</summary>
        public Exception TakeFault()
        {
            lock (gate)
            {
                var f = fault;
                fault = null;
                return f;
            }
        }

        /// <summary>Next event, waiting up to timeoutMs (-1: no limit); false on timeout, or at once
        /// when the run has ended and everything was taken.</summary>
        public bool TryTake(out MigrationEvent e, int timeoutMs)
        {
            var deadline = timeoutMs < 0 ? DateTime.MaxValue : DateTime.UtcNow.AddMilliseconds(timeoutMs);
            lock (gate)
            {
                while (true)
                {
                    if (queue.Count > 0)
                    {
                        e = queue.Dequeue();
                        return true;
                    }
                    e = null;
                    if (finished || released || fault != null) return false;
                    var left = deadline == DateTime.MaxValue ? -1 : (int)Math.Ceiling((deadline - DateTime.UtcNow).TotalMilliseconds);
                    if (deadline != DateTime.MaxValue && left <= 0) return false;
                    Monitor.Wait(gate, left);
                }
            }
        }

        public bool IsEmpty { get { lock (gate) return queue.Count == 0; } }
    }
}
