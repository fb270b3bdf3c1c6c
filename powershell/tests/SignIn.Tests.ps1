# Sign-in from PowerShell against a real site: `spmt emulator` ($env:SPMT_BIN, started here as
# its own process) with its Entra sign-in service. SPMT's documented script shape,
# Register-SPMTMigration -SPOCredential $cred, runs as written (plus the app registration's
# -ClientId); -DeviceLogin shows the device code message; a wrong password is an error that
# names the fix, with no password in any output.

BeforeAll {
    . (Join-Path $PSScriptRoot "TestHelpers.ps1")
    Import-Module $script:modulePath -Force
    $script:clientId = "8d1f6a53-2b7c-4e0a-9c3d-5e6f7a8b9c0d"
    $script:root = New-ScratchFolder "signin"
    $entra = Join-Path $script:root "entra.json"
    @{ device_poll_interval_secs = 1
       users = @(@{ username = "admin@local.onmicrosoft.com"; password = "local-admin-password"; site_admin = $true }
                 @{ username = "mfa@local.onmicrosoft.com"; password = "mfa-pw"; persona = "mfa_required"; site_admin = $true }) } |
        ConvertTo-Json -Depth 4 | Set-Content -Path $entra
    $script:emulator = Start-SpmtEmulator -Arguments @("--listen", "127.0.0.1:0", "--root", (Join-Path $script:root "site"), "--entra", $entra)
    $first = $script:emulator.StandardOutput.ReadLine()
    $script:base = ($first -split " ")[-1]
    $script:site = "$script:base/sites/local"
    $script:library = Join-Path $script:root "site/sites/local/Documents"
    $script:source = New-SourceTree -Path (Join-Path $script:root "share")
}

AfterAll {
    Unregister-SPMTMigration -WarningAction SilentlyContinue
    Stop-SpmtEmulator $script:emulator
    Remove-Item -Recurse -Force $script:root -ErrorAction SilentlyContinue
}

Describe "Sign-in to a real site" {
    It "runs SPMT's documented script shape with -SPOCredential" {
        $cred = New-Cred "admin@local.onmicrosoft.com" "local-admin-password"
        Register-SPMTMigration -SPOCredential $cred -ClientId $script:clientId -WorkingFolder (Join-Path $script:root "w1") -Force
        Add-SPMTTask -FileShareSource $script:source -TargetSiteUrl $script:site -TargetList "Documents"
        Start-SPMTMigration -InformationVariable info 6>$null
        $t = (Get-SPMTMigration).StatusOfTasks[0]
        $t.Status | Should -Be "COMPLETED"
        $t.NumActuallyMigratedFiles | Should -Be 3
        Get-FileSha256 (Join-Path $script:library "share/sub/deeper/c.bin") | Should -Be (Get-FileSha256 (Join-Path $script:source "sub/deeper/c.bin"))
        ($info | Out-String) | Should -Not -Match "local-admin-password"
    }

    It "ends a run whose password is wrong in an error naming the fix, never the password" {
        $cred = New-Cred "admin@local.onmicrosoft.com" "Wrong-Passw0rd"
        Register-SPMTMigration -SPOCredential $cred -ClientId $script:clientId -WorkingFolder (Join-Path $script:root "w2") -Force
        Add-SPMTTask -FileShareSource $script:source -TargetSiteUrl $script:site -TargetList "Documents"
        Start-SPMTMigration -ErrorVariable errs -ErrorAction SilentlyContinue 6>$null
        $errs.Count | Should -BeGreaterThan 0
        $text = ($errs | Out-String) + ((Get-SPMTMigration) | ConvertTo-Json -Depth 6)
        $text | Should -Match "wrong username or password"
        $text | Should -Not -Match "Wrong-Passw0rd"
    }

    It "tells an MFA account to use -DeviceLogin" {
        $cred = New-Cred "mfa@local.onmicrosoft.com" "mfa-pw"
        Register-SPMTMigration -SPOCredential $cred -ClientId $script:clientId -WorkingFolder (Join-Path $script:root "w3") -Force
        Add-SPMTTask -FileShareSource $script:source -TargetSiteUrl $script:site -TargetList "Documents"
        Start-SPMTMigration -ErrorVariable errs -ErrorAction SilentlyContinue 6>$null
        ($errs | Out-String) | Should -Match "DeviceLogin"
    }

    It "shows the device code message with -DeviceLogin and migrates once it is approved" {
        Register-SPMTMigration -DeviceLogin -ClientId $script:clientId -WorkingFolder (Join-Path $script:root "w4") -Force
        Add-SPMTTask -FileShareSource $script:source -TargetSiteUrl $script:site -TargetList "Documents" -TargetListRelativePath "device"
        # The user: approves the code the sign-in service is waiting on.
        $approver = Start-ThreadJob -ArgumentList "$script:base/login/_emulator/device" -ScriptBlock {
            param($hook)
            for ($i = 0; $i -lt 300; $i++) {
                try { Invoke-RestMethod -Method Post -Uri $hook -Body @{ action = "approve" } | Out-Null; return "approved" }
                catch { Start-Sleep -Milliseconds 200 }
            }
            "never approved"
        }
        Start-SPMTMigration -WarningVariable warned -WarningAction SilentlyContinue 6>$null
        Receive-Job -Wait -AutoRemoveJob $approver | Should -Be "approved"
        ($warned -join " ") | Should -Match "enter the code"
        (Get-SPMTMigration).StatusOfTasks[0].Status | Should -Be "COMPLETED"
        Test-Path (Join-Path $script:library "device/share/a.txt") | Should -BeTrue
    }
}
