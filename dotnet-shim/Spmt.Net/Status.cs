using System;
using System.Collections.Generic;

namespace Spmt
{
    /// <summary>One task as Get-SPMTMigration's StatusOfTasks shows it (SPMT's property names).</summary>
    public sealed class MigrationTaskStatus
    {
        public Guid TaskId { get; set; }
        public string SourceURI { get; set; }
        public string TargetURI { get; set; }
        public string TargetList { get; set; }
        public string TargetListRelativePath { get; set; }
        /// <summary>INITED, INPROGRESS, COMPLETED, COMPLETED_WITH_ERRORS, FAILED, INTERRUPTED, STOPPED.</summary>
        public string Status { get; set; }
        public int MigratingProgressPercentage { get; set; }
        public long NumScannedTotalFiles { get; set; }
        public long NumScannedBadFiles { get; set; }
        public long NumFilteredOutFiles { get; set; }
        public long NumFileWillBeMigrated { get; set; }
        public long NumActuallyMigratedFiles { get; set; }
        public long NumFailedFiles { get; set; }
        public long NumUnchangedFiles { get; set; }
        public long NumDeletedItems { get; set; }
        public string ErrorMsg { get; set; }
        public string ReportFolder { get; set; }
        public long Round { get; set; }
        public DateTime? StartTime { get; set; }
        public DateTime? EndTime { get; set; }

        internal static MigrationTaskStatus From(IDictionary<string, object> o)
        {
            Guid id;
            Guid.TryParse(Json.Str(o, "TaskId") ?? "", out id);
            return new MigrationTaskStatus
            {
                TaskId = id,
                SourceURI = Json.Str(o, "SourceURI") ?? "",
                TargetURI = Json.Str(o, "TargetURI") ?? "",
                TargetList = Json.Str(o, "TargetList") ?? "",
                TargetListRelativePath = Json.Str(o, "TargetListRelativePath") ?? "",
                Status = Json.Str(o, "Status") ?? "",
                MigratingProgressPercentage = (int)Math.Max(0, Math.Min(100, Json.Long(o, "MigratingProgressPercentage"))),
                NumScannedTotalFiles = Json.Long(o, "NumScannedTotalFiles"),
                NumScannedBadFiles = Json.Long(o, "NumScannedBadFiles"),
                NumFilteredOutFiles = Json.Long(o, "NumFilteredOutFiles"),
                NumFileWillBeMigrated = Json.Long(o, "NumFileWillBeMigrated"),
                NumActuallyMigratedFiles = Json.Long(o, "NumActuallyMigratedFiles"),
                NumFailedFiles = Json.Long(o, "NumFailedFiles"),
                NumUnchangedFiles = Json.Long(o, "NumUnchangedFiles"),
                NumDeletedItems = Json.Long(o, "NumDeletedItems"),
                ErrorMsg = Json.Str(o, "ErrorMsg") ?? "",
                ReportFolder = Json.Str(o, "ReportFolder") ?? "",
                Round = Json.Long(o, "Round"),
                StartTime = Json.Date(o, "StartTime"),
                EndTime = Json.Date(o, "EndTime"),
            };
        }

        public override string ToString()
        {
            return TaskId + " " + Status + " " + MigratingProgressPercentage + "% " + SourceURI + " -> " + TargetURI;
        }
    }

    /// <summary>A snapshot of the session (spmt_session_status / spmt status --json).</summary>
    public sealed class MigrationSessionStatus
    {
        public string Id { get; set; }
        /// <summary>NotStarted, a running state, or Finished.</summary>
        public string Status { get; set; }
        public string Result { get; set; }
        public string WorkingFolder { get; set; }
        public string ReportFolderPath { get; set; }
        public List<MigrationTaskStatus> StatusOfTasks { get; set; }
        /// <summary>What the engine said about the settings that deserves a warning (deprecated names).</summary>
        public List<string> Notes { get; set; }
        /// <summary>The task settings as the engine understood them (SPMT's names, defaults
        /// filled in): what will actually run, whatever name or alias the caller used.</summary>
        public IDictionary<string, object> Settings { get; set; }

        public MigrationSessionStatus()
        {
            Id = Status = WorkingFolder = ReportFolderPath = "";
            StatusOfTasks = new List<MigrationTaskStatus>();
            Notes = new List<string>();
            Settings = new Dictionary<string, object>(StringComparer.OrdinalIgnoreCase);
        }

        public static MigrationSessionStatus Parse(string json)
        {
            var o = Json.ParseObject(json, "session status");
            var s = new MigrationSessionStatus
            {
                Id = Json.Str(o, "Id") ?? "",
                Status = Json.Str(o, "Status") ?? "",
                Result = Json.Str(o, "Result"),
                WorkingFolder = Json.Str(o, "WorkingFolder") ?? "",
                ReportFolderPath = Json.Str(o, "ReportFolderPath") ?? "",
            };
            object notes;
            if (o.TryGetValue("Notes", out notes) && notes is List<object>)
                foreach (var n in (List<object>)notes) if (n is string) s.Notes.Add((string)n);
            object settings;
            if (o.TryGetValue("Settings", out settings) && settings is IDictionary<string, object>)
                foreach (var kv in (IDictionary<string, object>)settings) s.Settings[kv.Key] = kv.Value;
            object tasks;
            if (o.TryGetValue("StatusOfTasks", out tasks) && tasks is List<object>)
            {
                foreach (var t in (List<object>)tasks)
                {
                    var to = t as IDictionary<string, object>;
                    if (to != null) s.StatusOfTasks.Add(MigrationTaskStatus.From(to));
                }
            }
            return s;
        }
    }
}
