// SPMT's eight cmdlets. Names, parameter sets, parameter types and aliases follow SPMT's
// reference (reference/spmt-features.md §1.2–1.3); SPMT's Boolean settings are bool
// (-ScanOnly $true), switches stay switches. These classes only bind, call Spmt.PowerShell's
// plain classes, and write, always on the pipeline thread (native callbacks only queue events).
using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Management.Automation;
using Spmt;

namespace Spmt.PowerShell.Commands
{
    public abstract class SpmtCmdlet : PSCmdlet
    {
        static SpmtCmdlet()
        {
            // One migration per runspace: the session belongs to the runspace the cmdlet runs
            // in, and a runspace that closes stops and frees its own.
            SessionHost.Owner = () => System.Management.Automation.Runspaces.Runspace.DefaultRunspace;
            SessionHost.OnNewOwner = owner =>
            {
                var r = owner as System.Management.Automation.Runspaces.Runspace;
                if (r == null) return;
                r.StateChanged += (o, e) =>
                {
                    var state = e.RunspaceStateInfo.State;
                    if (state == System.Management.Automation.Runspaces.RunspaceState.Closed ||
                        state == System.Management.Automation.Runspaces.RunspaceState.Broken)
                        SessionHost.Release(r);
                };
            };
            // A script that ends while a -NoShow run is going: the run stops cleanly (what is in
            // flight is recorded) and stderr says how to resume, instead of an abrupt end.
            AppDomain.CurrentDomain.ProcessExit += (o, e) => SessionHost.StopAllOnExit(Console.Error, 20000);
        }

        /// <summary>The bound parameters as plain values: switches as bool, credentials as
        /// NetworkCredential (the plain classes never see PowerShell types).</summary>
        protected Dictionary<string, object> PlainParameters()
        {
            var d = new Dictionary<string, object>(StringComparer.OrdinalIgnoreCase);
            foreach (var kv in MyInvocation.BoundParameters)
            {
                var v = kv.Value;
                if (v is SwitchParameter) v = ((SwitchParameter)v).IsPresent;
                else if (v is PSCredential) v = ((PSCredential)v).GetNetworkCredential();
                d[kv.Key] = v;
            }
            return d;
        }

        /// <summary>Path parameters as PowerShell users mean them: relative to the current
        /// location (not the process's directory), <c>~</c>, PSDrives. Only file system paths
        /// are taken; the resolved path is what the engine and the session object see.</summary>
        protected void ResolvePaths(IDictionary<string, object> parameters, params string[] names)
        {
            foreach (var name in names)
            {
                object v;
                var path = parameters.TryGetValue(name, out v) ? v as string : null;
                if (string.IsNullOrEmpty(path)) continue;
                var windowsOnly = WindowsPaths.Problem(name, path, letter => SessionState.Drive.GetAll().Any(
                    d => string.Equals(d.Name, letter, StringComparison.OrdinalIgnoreCase)));
                if (windowsOnly != null) throw new DirectoryNotFoundException(windowsOnly);
                ProviderInfo provider;
                PSDriveInfo drive;
                string full;
                try { full = SessionState.Path.GetUnresolvedProviderPathFromPSPath(path, out provider, out drive); }
                catch (System.Management.Automation.DriveNotFoundException e)
                {
                    throw new DirectoryNotFoundException("-" + name + " '" + path + "' was not found: " + e.Message);
                }
                if (provider == null || provider.Name != "FileSystem")
                    throw new ArgumentException("-" + name + " '" + path + "' is a path of the " +
                        (provider == null ? "unknown" : provider.Name) + " provider; give a file system path");
                parameters[name] = full;
            }
        }

        protected void Warn(IEnumerable<string> warnings)
        {
            foreach (var w in warnings) WriteWarning(Wording.ForCmdlets(w));
        }

        protected void Write(ProgressMessage m)
        {
            if (m.IsWarning) WriteWarning(Wording.ForCmdlets(m.Text));
            else if (m.IsDebug) WriteDebug(m.Text);
            else WriteVerbose(m.Text);
        }

        /// <summary>A foreground run's closing lines, one per task: a status line for a task that
        /// completed, a non-terminating error for one that failed or completed with errors
        /// (TargetObject: its status), a warning for one that was stopped.</summary>
        protected void WriteSummary(MigrationSession s)
        {
            foreach (var o in SessionHost.Summary(s.GetStatus()))
            {
                if (o.ErrorId != null)
                {
                    var category = (ErrorCategory)Enum.Parse(typeof(ErrorCategory), o.Category);
                    WriteError(Worded(new ErrorRecord(new SpmtTaskException(o.Text), o.ErrorId, category, o.Task)));
                }
                else if (o.IsWarning) WriteWarning(Wording.ForCmdlets(o.Text));
                else Status(o.Text);
            }
        }

        /// <summary>What Ctrl+C during a foreground run says: the run goes on. The pipeline is
        /// stopping, so no stream takes a record any more: the line goes to the host, as
        /// PowerShell's own "^C" does (a hostless runspace has nobody to tell).</summary>
        protected void SayDetached()
        {
            const string detached = "The migration keeps running in the background: Show-SPMTMigration shows its progress again, Stop-SPMTMigration cancels it.";
            try { Status(detached); return; }
            catch (PipelineStoppedException) { }
            try { if (Host != null && Host.UI != null) Host.UI.WriteLine(detached); }
            catch (Exception) { /* no host to write to */ }
        }

        /// <summary>A status line: shown by default like Write-Host's, but on the Information
        /// stream, so <c>6&gt;$null</c>, <c>-InformationAction Ignore</c> and <c>*&gt;&amp;1</c> work and
        /// a hostless runspace keeps it (tags: PSHOST, Spmt).</summary>
        protected void Status(string text)
        {
            WriteInformation(new HostInformationMessage { Message = text }, new[] { "PSHOST", "Spmt" });
        }

        protected void Write(ProgressUpdate u)
        {
            var r = new ProgressRecord(u.ActivityId, string.IsNullOrEmpty(u.Activity) ? "spmt" : u.Activity,
                string.IsNullOrEmpty(u.StatusDescription) ? "..." : u.StatusDescription)
            {
                ParentActivityId = u.ParentActivityId,
                PercentComplete = u.PercentComplete,
                CurrentOperation = u.CurrentOperation,
                RecordType = u.Completed ? ProgressRecordType.Completed : ProgressRecordType.Processing,
            };
            WriteProgress(r);
        }

        /// <summary>Runs the cmdlet's body; a failure becomes a terminating error with a category
        /// that says what kind of problem it is.</summary>
        protected void Run(Action body)
        {
            try { body(); }
            catch (PipelineStoppedException) { throw; }
            catch (Exception e) { ThrowTerminatingError(ToError(e)); }
        }

        /// <summary>Runs the body for one input (a piped row, a task id). A problem with that input
        /// (a bad path, URL or value, an unknown id, a feature spmt lacks) is a non-terminating
        /// error whose TargetObject is the input, so the other inputs go on and -ErrorAction
        /// decides; a problem that stops the cmdlet (no session, a broken engine) terminates.</summary>
        protected void RunForInput(object input, Action body)
        {
            try { body(); }
            catch (PipelineStoppedException) { throw; }
            catch (Exception e) when (IsInputProblem(e))
            {
                var r = ToError(e);
                WriteError(Worded(new ErrorRecord(e, r.FullyQualifiedErrorId, r.CategoryInfo.Category, input)));
            }
            catch (Exception e) { ThrowTerminatingError(ToError(e)); }
        }

        static bool IsInputProblem(Exception e)
        {
            if (e is ArgumentException || e is DirectoryNotFoundException) return true;
            var se = e as SpmtException;
            return se != null && (se.Status == SpmtStatus.InvalidArgument || se.Status == SpmtStatus.InvalidJson ||
                se.Status == SpmtStatus.InvalidUtf8 || se.Status == SpmtStatus.NotSupported || se.Status == SpmtStatus.NotFound);
        }

        internal static ErrorRecord ToError(Exception e)
        {
            string id;
            var category = (ErrorCategory)Enum.Parse(typeof(ErrorCategory), ErrorKinds.Category(e, out id));
            return Worded(new ErrorRecord(e, id, category, null));
        }

        /// <summary>The record's message names the cmdlets' parameters, not the CLI's flags.</summary>
        static ErrorRecord Worded(ErrorRecord r)
        {
            var text = r.Exception != null ? r.Exception.Message : null;
            var worded = Wording.ForCmdlets(text);
            if (worded != text) r.ErrorDetails = new ErrorDetails(worded);
            return r;
        }

        /// <summary>Drains the session's events into Write-Progress until the run ends or Ctrl+C.</summary>
        protected bool ShowProgress(MigrationSession session, ProgressView view)
        {
            // Once Ctrl+C stops the pipeline, writing a record throws: that is the detach too.
            try { return SessionHost.ShowProgress(session, view, () => stopping, Write, Write); }
            catch (PipelineStoppedException) when (stopping) { return false; }
        }

        volatile bool stopping;

        protected override void StopProcessing()
        {
            // Ctrl+C: the drain loop notices within 100 ms; the migration keeps running.
            stopping = true;
        }
    }

    /// <summary>Creates and initialises the migration session (session-level settings).</summary>
    [Cmdlet("Register", "SPMTMigration", SupportsShouldProcess = true)]
    public sealed class RegisterSPMTMigrationCommand : SpmtCmdlet
    {
        [Parameter] public PSCredential SPOCredential { get; set; }
        [Parameter] public SwitchParameter Force { get; set; }
        [Parameter, ArgumentCompleter(typeof(BooleanCompleter))] public bool ScanOnly { get; set; }
        [Parameter, ArgumentCompleter(typeof(BooleanCompleter))] public bool StartMigrationAutomaticallyWhenNoScanIssue { get; set; }
        [Parameter, ArgumentCompleter(typeof(BooleanCompleter))] public bool EnableMultiRound { get; set; }
        [Parameter, ArgumentCompleter(typeof(BooleanCompleter))] public bool MigrateAllSiteFieldsAndContentTypes { get; set; }
        [Parameter, ArgumentCompleter(typeof(BooleanCompleter))] public bool MigrateFileVersionHistory { get; set; }
        [Parameter, ArgumentCompleter(typeof(BooleanCompleter))] public bool KeepAllVersions { get; set; }
        [Parameter] public int NumberOfVersionToMigrate { get; set; }
        [Parameter, Alias("MigrateHiddenFiles")] public bool IncludeHiddenFiles { get; set; }
        [Parameter] public DateTime MigrateFilesCreatedAfter { get; set; }
        [Parameter] public DateTime MigrateFilesModifiedAfter { get; set; }
        [Parameter] public List<string> SkipFilesWithExtension { get; set; }
        [Parameter] public string SkipSitesWithName { get; set; }
        [Parameter] public string SkipListsWithName { get; set; }
        [Parameter] public string SkipContentTypesWithName { get; set; }
        [Parameter] public string ReplacementOfInvalidChar { get; set; }
        [Parameter, ArgumentCompleter(typeof(DuplicatePageBehaviorCompleter))] public string DuplicatePageBehavior { get; set; }
        [Parameter, ArgumentCompleter(typeof(BooleanCompleter))] public bool AutomaticUserMapping { get; set; }
        [Parameter] public string UserMappingFile { get; set; }
        [Parameter, ArgumentCompleter(typeof(BooleanCompleter))] public bool PreserveUserPermissionsForSharePointSource { get; set; }
        [Parameter, ArgumentCompleter(typeof(BooleanCompleter))] public bool PreserveUserPermissionsForFileShare { get; set; }
        [Parameter, ArgumentCompleter(typeof(BooleanCompleter))] public bool PreservePermissionInheritance { get; set; }
        [Parameter, ArgumentCompleter(typeof(MigrateSiteSettingsCompleter))] public string MigrateSiteSettings { get; set; }
        [Parameter, ArgumentCompleter(typeof(BooleanCompleter))] public bool SkipListWithAudienceTargetingEnabled { get; set; }
        [Parameter, ArgumentCompleter(typeof(BooleanCompleter))] public bool MigrateNavigation { get; set; }
        [Parameter, ArgumentCompleter(typeof(BooleanCompleter))] public bool MigrateTermGroups { get; set; }
        [Parameter] public LookupReferenceScanPolicyEnum LookupReferencePolicy { get; set; }
        [Parameter, ArgumentCompleter(typeof(BooleanCompleter))] public bool DisableNoScriptDuringMigration { get; set; }
        [Parameter] public string WorkingFolder { get; set; }
        [Parameter, ArgumentCompleter(typeof(BooleanCompleter))] public bool UseCustomAzureStorage { get; set; }
        [Parameter] public string CustomAzureStorageAccount { get; set; }
        [Parameter] public string CustomAzureAccessKey { get; set; }
        [Parameter, ArgumentCompleter(typeof(BooleanCompleter))] public bool EnableEncryption { get; set; }
        [Parameter, ArgumentCompleter(typeof(BooleanCompleter))] public bool DeleteTempFilesWhenMigrationDone { get; set; }
        [Parameter] public SwitchParameter MigrateWithoutRootFolder { get; set; }
        [Parameter] public SwitchParameter IgnoreUpdate { get; set; }
        [Parameter, ArgumentCompleter(typeof(MigrationTypeCompleter))] public string MigrationType { get; set; }
        [Parameter] public string DefaultFlowOwnerEmail { get; set; }
        [Parameter] public string HandleUnspportedWorkflowActions { get; set; }

        // Removed or deprecated by SPMT but still in admins' scripts: they bind and warn.
        [Parameter, ArgumentCompleter(typeof(BooleanCompleter))] public bool Incremental { get; set; }
        [Parameter, ArgumentCompleter(typeof(BooleanCompleter))] public bool MigrateFilesAndFoldersWithInvalidChars { get; set; }
        [Parameter, ArgumentCompleter(typeof(BooleanCompleter))] public bool AzureActiveDirectoryLookup { get; set; }
        [Parameter, ArgumentCompleter(typeof(BooleanCompleter))] public bool MigrateOneNoteFolderAsOneNoteNoteBook { get; set; }

        // spmt's own sign-in parameters (SPMT itself signs in with -SPOCredential or a prompt):
        // your Entra app registration, app-only with a certificate, device code or browser, or a
        // ready-made token; and the local target's data.
        [Parameter] public string ClientId { get; set; }
        [Parameter] public string TenantId { get; set; }
        [Parameter] public string CertificatePath { get; set; }
        [Parameter] public string CertificateThumbprint { get; set; }
        [Parameter] public SwitchParameter DeviceLogin { get; set; }
        [Parameter] public SwitchParameter Interactive { get; set; }
        [Parameter] public string AuthorityHost { get; set; }
        [Parameter] public string AccessToken { get; set; }
        [Parameter] public string LocalTargetRoot { get; set; }

        protected override void ProcessRecord()
        {
            Run(() =>
            {
                var warnings = new List<string>();
                var parameters = PlainParameters();
                ResolvePaths(parameters, "WorkingFolder", "LocalTargetRoot", "UserMappingFile", "CertificatePath");
                var settings = RegisterParameters.ToSettings(parameters);
                // -WhatIf changes nothing; a -Force that would stop a running migration says so.
                var current = SessionHost.Current;
                var action = current != null && current.IsRunning && Force.IsPresent
                    ? "Stop the running migration and register a new session"
                    : "Register a migration session";
                if (!ShouldProcess(settings.WorkingFolder ?? "the default working folder", action)) return;
                var session = SessionHost.Register(settings, Force.IsPresent, warnings);
                // The engine's notes on the settings (deprecated parameters and the like).
                foreach (var n in session.GetStatus().Notes) warnings.Add(n);
                Warn(warnings);
            });
        }
    }

    /// <summary>Adds one task (or each task of a JSON definition) to the registered session.</summary>
    /// Bulk files pipe in by property name: SPMT's JSON task names (SourcePath, TargetPath) and
    /// Migration Manager's CSV header (FileSharePath, SharePointSite, DocLibrary, DocSubFolder)
    /// are aliases, so <c>Import-Csv tasks.csv | Add-SPMTTask</c> adds one task per row.
    [Cmdlet("Add", "SPMTTask", DefaultParameterSetName = TaskParameters.FileShareSet)]
    [OutputType(typeof(MigrationTaskStatus))]
    public sealed class AddSPMTTaskCommand : SpmtCmdlet
    {
        [Parameter(Mandatory = true, ParameterSetName = TaskParameters.FileShareSet, ValueFromPipelineByPropertyName = true)]
        [Alias("SourcePath", "FileSharePath")]
        public string FileShareSource { get; set; }

        [Parameter(ParameterSetName = TaskParameters.MigrateAllSet)]
        public SwitchParameter MigrateAll { get; set; }

        [Parameter(Mandatory = true, ParameterSetName = TaskParameters.MigrateAllSet)]
        [Parameter(Mandatory = true, ParameterSetName = TaskParameters.MigrateSelectedSet)]
        public string SharePointSourceSiteUrl { get; set; }

        [Parameter(Mandatory = true, ParameterSetName = TaskParameters.MigrateAllSet)]
        [Parameter(Mandatory = true, ParameterSetName = TaskParameters.MigrateSelectedSet)]
        [Parameter(ParameterSetName = TaskParameters.JsonSet)]
        public PSCredential SharePointSourceCredential { get; set; }

        [Parameter(ParameterSetName = TaskParameters.MigrateSelectedSet)]
        public string SourceListRelativePath { get; set; }

        [Parameter(Mandatory = true, ParameterSetName = TaskParameters.MigrateSelectedSet)]
        public string SourceList { get; set; }

        [Parameter(Mandatory = true, ParameterSetName = TaskParameters.FileShareSet, ValueFromPipelineByPropertyName = true)]
        [Parameter(Mandatory = true, ParameterSetName = TaskParameters.MigrateAllSet)]
        [Parameter(Mandatory = true, ParameterSetName = TaskParameters.MigrateSelectedSet)]
        [Alias("TargetPath", "SharePointSite")]
        public string TargetSiteUrl { get; set; }

        [Parameter(Mandatory = true, ParameterSetName = TaskParameters.FileShareSet, ValueFromPipelineByPropertyName = true)]
        [Parameter(Mandatory = true, ParameterSetName = TaskParameters.MigrateSelectedSet)]
        [Alias("DocLibrary")]
        public string TargetList { get; set; }

        [Parameter(ParameterSetName = TaskParameters.FileShareSet, ValueFromPipelineByPropertyName = true)]
        [Parameter(ParameterSetName = TaskParameters.MigrateSelectedSet)]
        [Alias("DocSubFolder")]
        public string TargetListRelativePath { get; set; }

        [Parameter(Mandatory = true, ParameterSetName = TaskParameters.JsonSet)]
        public string JsonDefinition { get; set; }

        [Parameter, ArgumentCompleter(typeof(MigrationTypeCompleter))]
        public string MigrationType { get; set; }

        /// <summary>Writes the added tasks' status objects (with their TaskId).</summary>
        [Parameter]
        public SwitchParameter PassThru { get; set; }

        protected override void ProcessRecord()
        {
            // What this row asked for: the TargetObject of its error.
            var input = ParameterSetName == TaskParameters.FileShareSet
                ? new System.Collections.Hashtable { { "FileShareSource", FileShareSource }, { "TargetSiteUrl", TargetSiteUrl }, { "TargetList", TargetList }, { "TargetListRelativePath", TargetListRelativePath } }
                : ParameterSetName == TaskParameters.JsonSet ? (object)JsonDefinition
                : new System.Collections.Hashtable { { "SharePointSourceSiteUrl", SharePointSourceSiteUrl }, { "TargetSiteUrl", TargetSiteUrl }, { "TargetList", TargetList } };
            RunForInput(input, () =>
            {
                var notes = new List<string>();
                var parameters = PlainParameters();
                if (ParameterSetName == TaskParameters.FileShareSet)
                {
                    // Piped rows bind these afresh each time: take this row's values, not a
                    // value an earlier row left among the bound parameters.
                    parameters["FileShareSource"] = FileShareSource;
                    parameters["TargetSiteUrl"] = TargetSiteUrl;
                    parameters["TargetList"] = TargetList;
                    if (string.IsNullOrEmpty(TargetListRelativePath)) parameters.Remove("TargetListRelativePath");
                    else parameters["TargetListRelativePath"] = TargetListRelativePath;
                }
                ResolvePaths(parameters, "FileShareSource");
                var tasks = TaskParameters.ToTaskJson(ParameterSetName, parameters, notes);
                foreach (var n in notes) WriteVerbose(n);
                var ids = SessionHost.AddTasks(tasks);
                foreach (var id in ids) WriteVerbose("Added task " + id);
                if (PassThru.IsPresent)
                    foreach (var t in SessionHost.View().StatusOfTasks)
                        if (ids.Contains(t.TaskId.ToString())) WriteObject(t);
            });
        }
    }

    /// <summary>Runs every task of the session; in the foreground (progress) unless -NoShow.</summary>
    [Cmdlet("Start", "SPMTMigration")]
    public sealed class StartSPMTMigrationCommand : SpmtCmdlet
    {
        [Parameter] public SwitchParameter NoShow { get; set; }
        [Parameter] public SwitchParameter ParametersValidationOnly { get; set; }

        protected override void ProcessRecord()
        {
            Run(() =>
            {
                if (ParametersValidationOnly.IsPresent)
                {
                    var problems = SessionHost.Validate();
                    foreach (var p in problems)
                        WriteError(new ErrorRecord(new ArgumentException(p), "Spmt.ValidationFailed", ErrorCategory.InvalidArgument, null));
                    if (problems.Count == 0) WriteVerbose("Every task's source can be read and its target is valid.");
                    return;
                }
                var s = SessionHost.Start();
                if (NoShow.IsPresent)
                {
                    Status("The migration is running in the background. Get-SPMTMigration shows its status; Show-SPMTMigration shows its progress.");
                    return;
                }
                var view = new ProgressView();
                view.Expect(s.GetStatus().StatusOfTasks.Select(t => t.TaskId.ToString()));
                if (ShowProgress(s, view))
                {
                    WriteSummary(s);
                }
                else
                {
                    SayDetached();
                }
            });
        }
    }

    /// <summary>The registered session: task status and session settings, SPMT's property names.</summary>
    [Cmdlet("Get", "SPMTMigration")]
    [OutputType(typeof(SpmtMigrationSession))]
    public sealed class GetSPMTMigrationCommand : SpmtCmdlet
    {
        protected override void ProcessRecord()
        {
            Run(() => WriteObject(SessionHost.View()));
        }
    }

    /// <summary>Brings a -NoShow run's progress to the foreground; Ctrl+C goes back to the background.</summary>
    [Cmdlet("Show", "SPMTMigration")]
    public sealed class ShowSPMTMigrationCommand : SpmtCmdlet
    {
        protected override void ProcessRecord()
        {
            Run(() =>
            {
                var s = SessionHost.Require();
                var view = new ProgressView();
                var status = s.GetStatus();
                view.Seed(status);
                if (s.EventsCompleted)
                {
                    WriteSummary(s);
                    return;
                }
                if (ShowProgress(s, view)) WriteSummary(s);
                else SayDetached();
            });
        }
    }

    /// <summary>Cancels the running migration (the running task stops, the others do not start).</summary>
    [Cmdlet("Stop", "SPMTMigration", SupportsShouldProcess = true)]
    public sealed class StopSPMTMigrationCommand : SpmtCmdlet
    {
        protected override void ProcessRecord()
        {
            Run(() =>
            {
                // Like Unregister-SPMTMigration: nothing to stop is a warning, not a failure.
                if (SessionHost.Current == null)
                {
                    WriteWarning("No migration session is registered.");
                    return;
                }
                if (!ShouldProcess(SessionHost.Current.Settings.WorkingFolder ?? "the migration session", "Stop the running migration")) return;
                if (!SessionHost.Stop(60000)) WriteWarning("No migration is running in this session.");
            });
        }
    }

    /// <summary>Removes a task; a started one needs -Force.</summary>
    [Cmdlet("Remove", "SPMTTask", SupportsShouldProcess = true)]
    public sealed class RemoveSPMTTaskCommand : SpmtCmdlet
    {
        [Parameter(Mandatory = true), ArgumentCompleter(typeof(TaskIdCompleter))] public Guid TaskId { get; set; }
        [Parameter] public SwitchParameter Force { get; set; }

        protected override void ProcessRecord()
        {
            RunForInput(TaskId, () =>
            {
                var warnings = new List<string>();
                if (!ShouldProcess("task " + TaskId, "Remove the task from the migration session")) return;
                SessionHost.RemoveTask(TaskId, Force.IsPresent, warnings);
                Warn(warnings);
            });
        }
    }

    /// <summary>Deletes the session (stopping a run first).</summary>
    [Cmdlet("Unregister", "SPMTMigration", SupportsShouldProcess = true)]
    public sealed class UnregisterSPMTMigrationCommand : SpmtCmdlet
    {
        protected override void ProcessRecord()
        {
            Run(() =>
            {
                if (SessionHost.Current != null &&
                    !ShouldProcess("the migration session", "Unregister (a running migration is stopped first)")) return;
                if (!SessionHost.Unregister()) WriteWarning("No migration session is registered.");
            });
        }
    }
}
