# Runs the module's Pester 5 tests against the built module and prints one summary line,
# `Pester: N passed, N failed, N skipped`; exits 1 when anything failed (a test, or a block's
# setup) or nothing ran. .ci/test runs it in the vendored PowerShell 7 after dotnet-shim/build.sh:
#   pwsh -NoProfile -NonInteractive -File powershell/tests/run.ps1 [-Path Cmdlets.Tests.ps1] [-Output Detailed]
param(
    [string[]]$Path = @($PSScriptRoot),
    [ValidateSet("None", "Normal", "Detailed", "Diagnostic")] [string]$Output = "Normal"
)
$ErrorActionPreference = "Stop"
Import-Module Pester -MinimumVersion 5.0
$config = New-PesterConfiguration
$config.Run.Path = $Path
$config.Run.PassThru = $true
$config.Output.Verbosity = $Output
$r = Invoke-Pester -Configuration $config
$failed = $r.FailedCount + $r.FailedBlocksCount + $r.FailedContainersCount
"Pester: {0} passed, {1} failed, {2} skipped" -f $r.PassedCount, $failed, $r.SkippedCount
if ($failed -gt 0 -or $r.PassedCount -eq 0) { exit 1 }
exit 0
