# Publishes the built module folder into a local file repository with PSResourceGet, as a
# PowerShell user's Publish-PSResource would: the repository folder then holds
# Spmt.PowerShell.<version>.nupkg. Run by dotnet-shim/pack.sh in a PowerShell 7 whose
# XDG_DATA_HOME is a scratch folder (repository registrations are per user; this keeps the
# caller's untouched).
param(
    [Parameter(Mandatory)] [string]$ModuleFolder,
    [Parameter(Mandatory)] [string]$Repository
)
$ErrorActionPreference = "Stop"
New-Item -ItemType Directory -Path $Repository -Force | Out-Null
Register-PSResourceRepository -Name SpmtBuild -Uri $Repository -Trusted -Force
try {
    Publish-PSResource -Path $ModuleFolder -Repository SpmtBuild -SkipDependenciesCheck
} finally {
    Unregister-PSResourceRepository -Name SpmtBuild
}
