# Module manifest for Spmt.PowerShell: SPMT's eight cmdlets over spmt's engine.
# Loads in Windows PowerShell 5.1 (Desktop) and PowerShell 7 (Core): the assemblies target
# netstandard2.0 and the native engine sits under runtimes/<rid>/native/.
@{
    RootModule           = 'Spmt.PowerShell.dll'
    # dotnet-shim/build.sh writes Cargo.toml's version and repository into the built manifest.
    ModuleVersion        = '0.1.0'
    HelpInfoUri          = 'https://github.com/spmt-project/spmt#readme'
    GUID                 = '8a228301-c6c3-4dd5-845b-1b74470b27dc'
    Author               = 'spmt contributors'
    CompanyName          = 'spmt'
    Copyright            = '(c) spmt contributors. MIT License.'
    Description          = 'Open, cross-platform SharePoint Migration Tool: file shares into SharePoint Online through the Migration API, with the cmdlets of Microsoft''s SPMT module (Register-SPMTMigration, Add-SPMTTask, Start-SPMTMigration, Get-SPMTMigration...).'
    PowerShellVersion    = '5.1'
    CompatiblePSEditions = @('Desktop', 'Core')
    DotNetFrameworkVersion = '4.7.2'
    RequiredAssemblies   = @('Spmt.Net.dll')
    FormatsToProcess     = @('Spmt.PowerShell.format.ps1xml')
    CmdletsToExport      = @(
        'Register-SPMTMigration',
        'Add-SPMTTask',
        'Start-SPMTMigration',
        'Get-SPMTMigration',
        'Show-SPMTMigration',
        'Stop-SPMTMigration',
        'Remove-SPMTTask',
        'Unregister-SPMTMigration'
    )
    FunctionsToExport    = @()
    VariablesToExport    = @()
    AliasesToExport      = @()
    PrivateData          = @{
        PSData = @{
            Tags         = @('SharePoint', 'SharePointOnline', 'Migration', 'SPMT', 'FileShare', 'PSEdition_Desktop', 'PSEdition_Core', 'Windows', 'Linux', 'macOS')
            LicenseUri   = 'https://opensource.org/licenses/MIT'
            ProjectUri   = 'https://github.com/spmt-project/spmt'
            ReleaseNotes = 'File-share migrations into SharePoint Online and the embedded local target, with SPMT''s eight cmdlets. SharePoint Server sources (in the cmdlets), workflow migration and interactive sign-in are not available yet: their parameters bind and stop with an error naming the feature.'
        }
    }
}
