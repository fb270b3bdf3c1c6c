# The PowerShell user's way in: the Spmt.PowerShell package that dotnet-shim/pack.sh published
# into target/packages/ is installed with Install-PSResource from that folder, registered as a
# repository, into a clean module path; a new PowerShell imports it by name and migrates into
# the embedded local target.

BeforeAll {
    . (Join-Path $PSScriptRoot "TestHelpers.ps1")
    $script:pwsh = if ($env:SPMT_PWSH) { $env:SPMT_PWSH } else { "pwsh" }
    $script:packages = Join-Path $script:repo "target/packages"
    $cargo = Get-Content -Raw (Join-Path $script:repo "Cargo.toml")
    $script:version = [regex]::Match($cargo, '(?m)^version\s*=\s*"([^"]+)"').Groups[1].Value
}

Describe "The Spmt.PowerShell package" {
    BeforeAll {
        $script:root = New-ScratchFolder "package"
        $script:src = New-SourceTree (Join-Path $script:root "dept1")
    }
    AfterAll { Remove-Item -Recurse -Force $script:root -ErrorAction SilentlyContinue }

    It "was built at the crate's version" {
        Test-Path (Join-Path $script:packages "Spmt.PowerShell.$($script:version).nupkg") | Should -BeTrue
    }

    It "installs with Install-PSResource into a clean module path and migrates" {
        # A new user: its own data folder (module path, repository list), nothing of the build's.
        $script:home2 = Join-Path $script:root "user"
        $work = Join-Path $script:root "w"
        $line = @"
`$ErrorActionPreference = 'Stop'
Register-PSResourceRepository -Name SpmtLocal -Uri '$($script:packages)' -Trusted
Install-PSResource -Name Spmt.PowerShell -Repository SpmtLocal -Scope CurrentUser -TrustRepository -Quiet
`$m = @(Get-Module -ListAvailable Spmt.PowerShell)
'installed ' + (`$m.Version -join ',') + ' at ' + (`$m.ModuleBase -join ',')
Import-Module Spmt.PowerShell
Register-SPMTMigration -WorkingFolder '$work' -Force
Add-SPMTTask -FileShareSource '$($script:src)' -TargetSiteUrl local -TargetList Documents
Start-SPMTMigration -NoShow
`$s = Get-SPMTMigration
while (`$s.Status -ne 'Finished') { Start-Sleep -Milliseconds 200 }
'task ' + `$s.StatusOfTasks[0].Status + ' ' + `$s.StatusOfTasks[0].NumActuallyMigratedFiles
"@
        # .NET reports a per-user folder only once it exists (else PSResourceGet falls back to HOME).
        foreach ($d in ".local/share", "config", "cache") { New-Item -ItemType Directory -Path (Join-Path $script:home2 $d) -Force | Out-Null }
        # PSResourceGet's CurrentUser scope follows HOME, PowerShell's module path XDG_DATA_HOME.
        $savedHome = $env:HOME
        $env:HOME = $script:home2
        $env:XDG_DATA_HOME = Join-Path $script:home2 ".local/share"
        $env:XDG_CONFIG_HOME = Join-Path $script:home2 "config"
        $env:XDG_CACHE_HOME = Join-Path $script:home2 "cache"
        try {
            $out = & $script:pwsh -NoProfile -NonInteractive -Command $line 2>&1 | Out-String
        } finally {
            foreach ($v in "XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME") {
                Remove-Item -Path "Env:$v" -ErrorAction SilentlyContinue
            }
            $env:HOME = $savedHome
        }
        $LASTEXITCODE | Should -Be 0 -Because $out
        $out | Should -Match ("installed " + [regex]::Escape($script:version) + " at " + [regex]::Escape((Join-Path $script:home2 ".local/share/powershell/Modules/Spmt.PowerShell/")) + "[^,]*\n")
        $out | Should -Match "task COMPLETED 3"
        Get-FileSha256 (Join-Path $work "LocalTarget/sites/local/Documents/dept1/sub/deeper/c.bin") |
            Should -Be (Get-FileSha256 (Join-Path $script:src "sub/deeper/c.bin"))
    }
}
