# The module's help: Get-Help shows spmt's text for all eight cmdlets (synopsis, description,
# every parameter, at least two examples), the help's parameter surface is the compiled one
# (powershell/help/surface.json, from which the MAML's syntax is written), every runnable
# example runs against the local target, and the about topic is there.

BeforeDiscovery {
    $script:helpText = Get-Content -Raw (Join-Path $PSScriptRoot "../help/cmdlets.json") | ConvertFrom-Json -AsHashtable
    $script:examples = foreach ($c in $script:helpText.Keys) {
        $i = 0
        foreach ($e in $script:helpText[$c].Examples) {
            $i++
            if ($e.ContainsKey("Runs") -and -not $e.Runs) { continue }
            @{ Cmdlet = $c; Number = $i; Title = $e.Title; Code = $e.Code }
        }
    }
    $script:cmdlets = @($script:helpText.Keys | Sort-Object | ForEach-Object { @{ Name = $_ } })
}

BeforeAll {
    . (Join-Path $PSScriptRoot "TestHelpers.ps1")
    Import-Module $script:modulePath -Force
    $script:text = Get-Content -Raw (Join-Path $PSScriptRoot "../help/cmdlets.json") | ConvertFrom-Json -AsHashtable
    $script:common = [System.Management.Automation.PSCmdlet]::CommonParameters + [System.Management.Automation.PSCmdlet]::OptionalCommonParameters
}

AfterAll {
    Unregister-SPMTMigration -WarningAction SilentlyContinue
}

Describe "Help" {
    It "describes the surface the module has (regenerate powershell/help/surface.json with surface.ps1 when a parameter changes)" {
        $now = & (Join-Path $PSScriptRoot "../help/surface.ps1") -ModulePath $script:modulePath | Out-String
        $committed = Get-Content -Raw (Join-Path $PSScriptRoot "../help/surface.json")
        ($now | ConvertFrom-Json | ConvertTo-Json -Depth 8) | Should -Be ($committed | ConvertFrom-Json | ConvertTo-Json -Depth 8)
    }

    It "gives <Name> its synopsis, description, every parameter and two examples" -ForEach $script:cmdlets {
        $h = Get-Help $Name -Full
        $h.Synopsis | Should -Be $script:text[$Name].Synopsis
        ($h.Description | Out-String) | Should -Not -BeNullOrEmpty
        $params = (Get-Command $Name).Parameters.Keys | Where-Object { $script:common -notcontains $_ }
        foreach ($p in $params) {
            $hp = $h.Parameters.Parameter | Where-Object Name -eq $p
            $hp | Should -Not -BeNullOrEmpty -Because "-$p is in the help"
            ($hp.Description | Out-String).Trim() | Should -Not -BeNullOrEmpty -Because "-$p is described"
        }
        @($h.Examples.Example).Count | Should -BeGreaterOrEqual 2
        ($h.Syntax | Out-String) | Should -Match ([regex]::Escape($Name))
    }

    It "runs example <Number> of <Cmdlet> (<Title>) against the local target" -ForEach $script:examples {
        $dir = New-ScratchFolder "example"
        New-SourceTree -Path (Join-Path $dir "share") | Out-Null
        Push-Location $dir
        try {
            $ErrorActionPreference = "Stop"
            & ([scriptblock]::Create($Code)) *> $null
        }
        finally {
            Pop-Location
            Unregister-SPMTMigration -WarningAction SilentlyContinue
            Remove-Item -Recurse -Force $dir -ErrorAction SilentlyContinue
        }
    }

    It "has the about topic" {
        (Get-Help about_Spmt.PowerShell | Out-String) | Should -Match "Spmt"
    }
}
