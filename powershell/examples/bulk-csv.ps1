# Bulk migration from SPMT's CSV (no header; six columns: source, source doclib, source subfolder,
# target site, target library, target subfolder), as in SPMT's documented Example 3.
param(
    [string]$CsvPath = "C:\spmt.csv",
    [string]$WorkingFolder = (Join-Path ([System.IO.Path]::GetTempPath()) "spmt-example-csv")
)

Import-Module Spmt.PowerShell

$registerArgs = @{
    WorkingFolder          = $WorkingFolder
    ScanOnly               = $false
    IncludeHiddenFiles     = $false
    EnableMultiRound       = $false
    MigrateFileVersionHistory = $true
    AccessToken            = $env:SPMT_ACCESS_TOKEN
    Force                  = $true
}
Register-SPMTMigration @registerArgs

$csvItems = Import-Csv $CsvPath -Header "c1", "c2", "c3", "c4", "c5", "c6"
foreach ($item in $csvItems) {
    Write-Host "Adding task $($item.c1) -> $($item.c4) / $($item.c5)"
    Add-SPMTTask -FileShareSource $item.c1 -TargetSiteUrl $item.c4 -TargetList $item.c5 -TargetListRelativePath $item.c6
}

Start-SPMTMigration -NoShow
Show-SPMTMigration

$migration = Get-SPMTMigration
$migration.StatusOfTasks | Select-Object -Property "TaskId", "SourceURI", "TargetURI", "Status", "NumScannedTotalFiles", "NumActuallyMigratedFiles", "NumFailedFiles", "ReportFolder"
