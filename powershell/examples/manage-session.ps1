# Manage a running session: show progress, remove a task, stop, unregister.
param(
    [string[]]$Sources = @("C:\MigrationTests\dept1", "C:\MigrationTests\dept2"),
    [string]$TargetSite = "local"
)

Import-Module Spmt.PowerShell

Register-SPMTMigration -ScanOnly $true -Force
foreach ($source in $Sources) {
    Add-SPMTTask -FileShareSource $source -TargetSiteUrl $TargetSite -TargetList "Documents" -TargetListRelativePath (Split-Path $source -Leaf)
}

# Pre-flight: sources readable, targets valid.
Start-SPMTMigration -ParametersValidationOnly

Start-SPMTMigration -NoShow

# Find a task by its source and remove it, even though it already started.
$migration = Get-SPMTMigration
$second = $migration.StatusOfTasks | Where-Object { $_.SourceURI -eq $Sources[-1] } | Select-Object -First 1
if ($second) {
    Remove-SPMTTask -TaskId $second.TaskId -Force
}

# Watch the rest in the foreground (Ctrl+C returns to the background).
Show-SPMTMigration

Stop-SPMTMigration
Unregister-SPMTMigration
