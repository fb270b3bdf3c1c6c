# The calls of SPMT's documented examples (learn.microsoft.com, "Migrate to SharePoint using
# PowerShell" and the cmdlet reference), written against spmt. They all bind to spmt's cmdlets;
# the ones that need features spmt does not have yet (SharePoint Server sources, sign-in with
# -SPOCredential, workflow migration) stop with a terminating error naming the
# feature (category NotImplemented), so a script never silently does less than it asks.
# psbind checks this file with the other examples; it is not meant to be run as a whole.

# Target and sources
$SPOUrl = "https://contoso.sharepoint.com"
$UserName = "admin@contoso.onmicrosoft.com"
$PassWord = Read-Host -AsSecureString -Prompt "SharePoint Online password"
$SPOCredential = New-Object -TypeName System.Management.Automation.PSCredential -ArgumentList $UserName, $PassWord
$TargetListName = "TestImport"
$FileshareSource = "C:\MigrationTests\testfiles"
$SourceSiteUrl = "https://onprem.contoso.local/"
$OnPremCredential = Get-Credential -Message "SharePoint 2013 account"
$SourceListName = "SourceListName"

Import-Module Spmt.PowerShell

# Example 1: one SharePoint task and one file-share task in the foreground.
# spmt: -SPOCredential stops with "sign-in ... not supported"; pass -AccessToken instead.
Register-SPMTMigration -SPOCredential $SPOCredential -Force
Register-SPMTMigration -AccessToken $env:SPMT_ACCESS_TOKEN -Force
# spmt: stops with "migration from SharePoint Server sources is not supported by spmt yet".
Add-SPMTTask -SharePointSourceCredential $OnPremCredential -SharePointSourceSiteUrl $SourceSiteUrl -TargetSiteUrl $SPOUrl -MigrateAll
Add-SPMTTask -SharePointSourceCredential $OnPremCredential -SharePointSourceSiteUrl $SourceSiteUrl -SourceList $SourceListName -TargetSiteUrl $SPOUrl -TargetList $TargetListName
Add-SPMTTask -FileShareSource $FileshareSource -TargetSiteUrl $SPOUrl -TargetList $TargetListName
Start-SPMTMigration

# Example 2: run in the background, then bring the progress to the foreground.
Start-SPMTMigration -NoShow
Show-SPMTMigration

# Example 3: tasks from a JSON file; the credential is only needed for SharePoint sources.
$jsonItems = Get-Content -Raw -Path "C:\spmt.json" | ConvertFrom-Json
foreach ($taskItem in $jsonItems.Tasks) {
    $jsonString = ConvertTo-Json $taskItem -Depth 100
    Add-SPMTTask -JsonDefinition $jsonString -SharePointSourceCredential $OnPremCredential
}

# Example 4: poll the session until it is finished.
Start-SPMTMigration -NoShow
$session = Get-SPMTMigration
while ($session.Status -ne "Finished") {
    foreach ($task in $session.StatusOfTasks) { "{0}: {1}%" -f $task.TaskId, $task.MigratingProgressPercentage }
    Start-Sleep -Seconds 5
}

# Remove a task that already started.
Remove-SPMTTask -TaskID "9e3b7e8a-2a6c-4c57-8b4e-2f1a4b0c9d11" -Force

# Workflow scan (spmt: -MigrationType WORKFLOW stops with an error naming it).
Register-SPMTMigration -ScanOnly $true -SPOCredential $SPOCredential -UserMappingFile "C:\usermap.csv" -MigrationType WORKFLOW -DefaultFlowOwnerEmail "flowowner@contoso.com" -Force
Add-SPMTTask -SharePointSourceCredential $OnPremCredential -SharePointSourceSiteUrl $SourceSiteUrl -TargetSiteUrl $SPOUrl -MigrateAll -MigrationType WORKFLOW
Start-SPMTMigration
$migration = Get-SPMTMigration
Start-Process $migration.ReportFolderPath

# Parameters SPMT deprecated still bind (with a warning).
Register-SPMTMigration -MigrateOneNoteFolderAsOneNoteNoteBook $true -MigrateHiddenFiles $false -Force

Stop-SPMTMigration
Unregister-SPMTMigration
