# A SharePoint Server library as the source, from PowerShell: `spmt emulator --farm`
# ($env:SPMT_BIN, started here as its own process) serves a site over SharePoint's REST API
# behind NTLM; SPMT's documented shape, Add-SPMTTask -SharePointSourceCredential
# -SharePointSourceSiteUrl -SourceList, migrates a library with its version history into the
# local target. A wrong password ends the task in an error that never shows it.

BeforeAll {
    . (Join-Path $PSScriptRoot "TestHelpers.ps1")
    Import-Module $script:modulePath -Force
    $script:root = New-ScratchFolder "farm"
    # The farm: one library with a folder, and a file with an older version by another person.
    $farm = Join-Path $script:root "farm"
    $docs = Join-Path $farm "Shared Documents"
    New-Item -ItemType Directory -Path (Join-Path $docs "Reports") -Force | Out-Null
    New-Item -ItemType Directory -Path (Join-Path $farm "_farm") -Force | Out-Null
    Set-Content -NoNewline -Path (Join-Path $docs "Reports/plan.txt") -Value "version two"
    Set-Content -NoNewline -Path (Join-Path $docs "readme.txt") -Value "read me"
    Set-Content -NoNewline -Path (Join-Path $farm "_farm/plan-1.txt") -Value "version one"
    @{
        users = @(@{ id = 7; login = "i:0#.w|contoso\alice"; title = "Alice"; email = "alice@contoso.com" })
        items = @{ "Shared Documents/Reports/plan.txt" = @{
                author = 7; editor = 7; version = "2.0"
                versions = @(@{ label = "1.0"; file = "plan-1.txt"; created = "2024-01-02T03:04:05Z"; created_by = 7; comment = "first" })
            } }
    } | ConvertTo-Json -Depth 6 | Set-Content -Path (Join-Path $farm "_farm/farm.json")

    $script:emulator = Start-SpmtEmulator -Arguments @("--listen", "127.0.0.1:0", "--root", (Join-Path $script:root "unused"), "--farm", $farm) `
        -Environment @{ SPMT_FARM_PASSWORD = "farm-Passw0rd" }
    $script:site = $null
    while ($null -ne ($line = $script:emulator.StandardOutput.ReadLine())) {
        if ($line -like "farm site: *") { $script:site = $line.Substring(11); break }
    }
    if (-not $script:site) { throw "spmt emulator --farm did not say where the farm is" }
}

AfterAll {
    Unregister-SPMTMigration -WarningAction SilentlyContinue
    Stop-SpmtEmulator $script:emulator
    Remove-Item -Recurse -Force $script:root -ErrorAction SilentlyContinue
}

Describe "A SharePoint Server library as the source" {
    It "migrates a library with Add-SPMTTask -SharePointSourceCredential, versions and all" {
        $w = New-ScratchFolder "farm-run"
        Register-LocalMigration -Root $w
        Add-SPMTTask -SharePointSourceCredential (New-Cred "CONTOSO\spadmin" "farm-Passw0rd") -SharePointSourceSiteUrl $script:site `
            -SourceList "Shared Documents" -TargetSiteUrl "local" -TargetList "Documents"
        Start-SPMTMigration -InformationVariable info 6>$null
        $t = (Get-SPMTMigration).StatusOfTasks[0]
        $t.Status | Should -Be "COMPLETED"
        $t.NumActuallyMigratedFiles | Should -Be 2
        $lib = Get-TargetLibrary -Root $w
        Get-Content -Raw (Join-Path $lib "Reports/plan.txt") | Should -Be "version two"
        Get-Content -Raw (Join-Path $lib "readme.txt") | Should -Be "read me"
        # The older version came too: the local target keeps it beside the current one.
        $kept = Get-ChildItem -Recurse -File (Join-Path $w "target/_emulator/versions")
        $kept.Count | Should -Be 1
        Get-Content -Raw $kept[0].FullName | Should -Be "version one"
        ($info | Out-String) + ((Get-SPMTMigration) | ConvertTo-Json -Depth 6) | Should -Not -Match "farm-Passw0rd"
    }

    It "ends a task whose farm password is wrong in an error naming the account, never the password" {
        $w = New-ScratchFolder "farm-wrong"
        Register-LocalMigration -Root $w
        Add-SPMTTask -SharePointSourceCredential (New-Cred "CONTOSO\spadmin" "Wrong-farm-pw") -SharePointSourceSiteUrl $script:site `
            -SourceList "Shared Documents" -TargetSiteUrl "local" -TargetList "Documents"
        Start-SPMTMigration -ErrorVariable errs -ErrorAction SilentlyContinue -WarningVariable warns -WarningAction SilentlyContinue 6>$null
        $t = (Get-SPMTMigration).StatusOfTasks[0]
        $t.Status | Should -Be "FAILED"
        $text = ($errs | Out-String) + ($warns | Out-String) + ((Get-SPMTMigration) | ConvertTo-Json -Depth 6)
        $text | Should -Match "spadmin"
        $text | Should -Not -Match "Wrong-farm-pw"
    }
}
