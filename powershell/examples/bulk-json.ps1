# Bulk migration from SPMT's JSON task file ({"Tasks": [...]}), as in SPMT's documented Example 3.
# File-share tasks need no -SharePointSourceCredential.
param(
    [string]$JsonPath = "C:\spmt.json",
    [string]$WorkingFolder = (Join-Path ([System.IO.Path]::GetTempPath()) "spmt-example-json")
)

Import-Module Spmt.PowerShell

Register-SPMTMigration -WorkingFolder $WorkingFolder -ScanOnly $false -Force

$jsonItems = Get-Content -Raw -Path $JsonPath | ConvertFrom-Json
foreach ($taskItem in $jsonItems.Tasks) {
    $jsonString = ConvertTo-Json $taskItem -Depth 100
    Add-SPMTTask -JsonDefinition $jsonString
}

Start-SPMTMigration

$session = Get-SPMTMigration
foreach ($task in $session.StatusOfTasks) {
    "$($task.TaskId) $($task.Status) $($task.MigratingProgressPercentage)% $($task.ErrorMsg)"
}
Write-Host "Session $($session.Status); reports in $($session.ReportFolderPath)"
