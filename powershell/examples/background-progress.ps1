# Start in the background and poll the session every 5 seconds (SPMT's documented Example 4).
param(
    [string]$Source = "C:\MigrationTests\testfiles",
    [string]$TargetSite = "local",
    [string]$WorkingFolder = (Join-Path ([System.IO.Path]::GetTempPath()) "spmt-example-bg")
)

Import-Module Spmt.PowerShell

Register-SPMTMigration -WorkingFolder $WorkingFolder -MigrateWithoutRootFolder -Force
Add-SPMTTask -FileShareSource $Source -TargetSiteUrl $TargetSite -TargetList "Documents"

# Start migration in the background
Start-SPMTMigration -NoShow

# Get the object reference for the current session
$session = Get-SPMTMigration

# Query migration status every 5 seconds until migration is finished
while ($session.Status -ne "Finished") {
    foreach ($task in $session.StatusOfTasks) {
        Write-Host ("{0}: {1} {2}% scanned {3} (bad {4}), to migrate {5}, migrated {6}, failed {7}" -f
            $task.SourceURI, $task.Status, $task.MigratingProgressPercentage, $task.NumScannedTotalFiles,
            $task.NumScannedBadFiles, $task.NumFileWillBeMigrated, $task.NumActuallyMigratedFiles, $task.NumFailedFiles)
    }
    Start-Sleep -Seconds 5
}

$session.StatusOfTasks | Format-Table -Property "TaskId", "Status", "MigratingProgressPercentage", "NumActuallyMigratedFiles", "NumFailedFiles"
$failed = @($session.StatusOfTasks | Where-Object { $_.Status -ne "COMPLETED" })
foreach ($task in $failed) {
    Write-Warning ("{0} ended {1}: {2} (report folder {3})" -f $task.TaskId, $task.Status, $task.ErrorMsg, $task.ReportFolder)
}
