# Migrate one file share into a document library, in the foreground, as with SPMT.
# The only line that differs from an SPMT script is Import-Module.
#   pwsh ./migrate-file-share.ps1 -Source /srv/share/dept1              (embedded local target)
#   pwsh ./migrate-file-share.ps1 -Source D:\Dept1 -TargetSite https://contoso.sharepoint.com/sites/Dept1
param(
    [string]$Source = "C:\MigrationTests\testfiles",
    [string]$TargetSite = "local",
    [string]$TargetList = "Documents",
    [string]$WorkingFolder = (Join-Path ([System.IO.Path]::GetTempPath()) "spmt-example")
)

Import-Module Spmt.PowerShell

# A real tenant needs an OAuth token for https://<tenant>.sharepoint.com (until sign-in lands);
# the embedded local target ("local") needs none.
$token = $env:SPMT_ACCESS_TOKEN

Register-SPMTMigration -WorkingFolder $WorkingFolder -AccessToken $token -ScanOnly $false `
    -IncludeHiddenFiles $true -SkipFilesWithExtension "tmp:bak" -ReplacementOfInvalidChar "_" -Force

Add-SPMTTask -FileShareSource $Source -TargetSiteUrl $TargetSite -TargetList $TargetList -TargetListRelativePath "Imported"

# Runs in the foreground with a progress bar; returns when every task has finished.
Start-SPMTMigration

$migration = Get-SPMTMigration
foreach ($task in $migration.StatusOfTasks) {
    "{0} {1} -> {2}: {3}, {4} of {5} files migrated, {6} failed" -f $task.TaskId, $task.SourceURI, $task.TargetURI,
        $task.Status, $task.NumActuallyMigratedFiles, $task.NumFileWillBeMigrated, $task.NumFailedFiles
    if ($task.ErrorMsg) { Write-Warning $task.ErrorMsg }
}
"Reports: $($migration.ReportFolderPath)"

Unregister-SPMTMigration
