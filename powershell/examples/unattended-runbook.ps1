# An unattended runbook that never parses a status: every problem is a PowerShell error, so
# $ErrorActionPreference = "Stop" ends it, the catch block says what failed and the exit code
# tells the scheduler. Tasks come from a CSV in Migration Manager's columns (FileSharePath,
# SharePointSite, DocLibrary, DocSubFolder), piped into Add-SPMTTask. Sign-in as usual (a
# certificate for runbooks: -CertificatePath, -ClientId, -TenantId); "local" as SharePointSite
# migrates into the embedded local target.
param(
    [Parameter(Mandatory)] [string]$CsvPath,
    [string]$WorkingFolder = "~/spmt/wave1"
)
$ErrorActionPreference = "Stop"
Import-Module Spmt.PowerShell

Register-SPMTMigration -WorkingFolder $WorkingFolder -IncludeHiddenFiles $false -Force
try {
    # A bad row stops here, naming it. (`Import-Csv $CsvPath | Add-SPMTTask -PassThru` binds
    # these columns by name too; spelled out, a reader sees which column is which.)
    $tasks = Import-Csv $CsvPath | ForEach-Object {
        Add-SPMTTask -FileShareSource $_.FileSharePath -TargetSiteUrl $_.SharePointSite `
            -TargetList $_.DocLibrary -TargetListRelativePath $_.DocSubFolder -PassThru
    }
    Start-SPMTMigration                              # foreground: an error per failed task
    "migrated {0} task(s) into {1}" -f @($tasks).Count, (@($tasks)[0].TargetURI)
} catch {
    Write-Output ("FAILED: " + $_.Exception.Message)
    if ($_.TargetObject.TaskId) {
        $_.TargetObject | Format-List -Property "TaskId", "SourceURI", "Status", "NumFailedFiles", "ReportFolder" | Out-String | Write-Output
    }
    exit 1
} finally {
    Unregister-SPMTMigration                         # frees the session; running again resumes
}
