namespace Spmt
{
    /// <summary>Where a consumer takes events from: a <see cref="MigrationSession"/>, or a test's fake.</summary>
    public interface IMigrationEventSource
    {
        /// <summary>Next event within timeoutMs (-1: no limit); false on timeout or when the run's
        /// events are all taken.</summary>
        bool TryTakeEvent(out MigrationEvent e, int timeoutMs);

        /// <summary>True once the run's last event has been taken.</summary>
        bool EventsCompleted { get; }
    }
}
