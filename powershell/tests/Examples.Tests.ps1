# Each runnable script in powershell/examples/, run as an admin runs it: in its own PowerShell
# process, `Import-Module Spmt.PowerShell` by name, against the embedded local target. The test
# reads the bytes that arrived. (spmt-documented-examples.ps1 is a catalogue of SPMT's documented
# calls: it prompts for credentials and addresses a tenant, so psbind checks its binding and
# Cmdlets.Tests.ps1 checks the errors of its unsupported calls.)

BeforeAll {
    . (Join-Path $PSScriptRoot "TestHelpers.ps1")
    $script:examples = Join-Path $script:repo "powershell/examples"
    # run.ps1 says which PowerShell runs the tests; the scripts run in the same one.
    $script:pwsh = if ($env:SPMT_PWSH) { $env:SPMT_PWSH } else { "pwsh" }

    # Runs an example in a new process with the module's folder first on PSModulePath and the
    # default working folder (XDG_DATA_HOME) inside $Root. Returns its output; throws on failure.
    function Invoke-Example {
        param([string]$Root, [string]$Script, [hashtable]$Arguments)
        $env:XDG_DATA_HOME = Join-Path $Root "data"
        $modulePath = $env:PSModulePath
        $env:PSModulePath = (Split-Path (Split-Path $script:modulePath)) + [System.IO.Path]::PathSeparator + $env:PSModulePath
        try {
            # -Command, so that arrays bind as arrays: & 'script.ps1' -Name 'value' -List 'a','b'
            $quote = { param($v) "'" + ($v -replace "'", "''") + "'" }
            $line = "& " + (& $quote (Join-Path $script:examples $Script))
            foreach ($k in $Arguments.Keys) {
                $line += " -$k " + (($Arguments[$k] | ForEach-Object { & $quote $_ }) -join ",")
            }
            $out = & $script:pwsh -NoProfile -NonInteractive -Command $line 2>&1 | Out-String
        } finally {
            Remove-Item Env:XDG_DATA_HOME -ErrorAction SilentlyContinue
            $env:PSModulePath = $modulePath
        }
        if ($LASTEXITCODE -ne 0) { throw "$Script exited $LASTEXITCODE`n$out" }
        $out
    }
}

Describe "powershell/examples" {
    BeforeEach {
        $script:root = New-ScratchFolder "example"
        $script:src = New-SourceTree (Join-Path $script:root "dept1") -Extra @{ "junk.tmp" = "t"; "old.bak" = "b" }
    }
    AfterEach { Remove-Item -Recurse -Force $script:root -ErrorAction SilentlyContinue }

    It "migrate-file-share.ps1 migrates in the foreground with its scan rules" {
        $w = Join-Path $script:root "w"
        $out = Invoke-Example $script:root "migrate-file-share.ps1" @{ Source = $script:src; WorkingFolder = $w }
        $out | Should -Match "COMPLETED, 3 of 3 files migrated, 0 failed"
        $lib = Join-Path $w "LocalTarget/sites/local/Documents/Imported/dept1"
        Get-Content -Raw (Join-Path $lib "sub/b.txt") | Should -Be "world"
        Get-FileSha256 (Join-Path $lib "sub/deeper/c.bin") | Should -Be (Get-FileSha256 (Join-Path $script:src "sub/deeper/c.bin"))
        Test-Path (Join-Path $lib "junk.tmp") | Should -BeFalse
        Test-Path (Join-Path $lib "old.bak") | Should -BeFalse
    }

    It "background-progress.ps1 polls a background run until it is finished" {
        $w = Join-Path $script:root "w"
        $out = Invoke-Example $script:root "background-progress.ps1" @{ Source = $script:src; WorkingFolder = $w }
        $out | Should -Match "COMPLETED"
        $out | Should -Not -Match "WARNING"
        Get-Content -Raw (Join-Path $w "LocalTarget/sites/local/Documents/a.txt") | Should -Be "hello"
    }

    It "bulk-csv.ps1 adds a task per CSV row" {
        $other = New-SourceTree (Join-Path $script:root "dept2")
        $csv = Join-Path $script:root "tasks.csv"
        Set-Content -Path $csv -Value @(
            "$($script:src),,,local,Documents,csv1"
            "$other,,,local,Shared,csv2"
        )
        $w = Join-Path $script:root "w"
        # The local target's libraries must exist, as a site's do: Documents does; a folder makes Shared.
        New-Item -ItemType Directory -Force -Path (Join-Path $w "LocalTarget/sites/local/Shared") | Out-Null
        $out = Invoke-Example $script:root "bulk-csv.ps1" @{ CsvPath = $csv; WorkingFolder = $w }
        $out | Should -Match "Adding task"
        Get-Content -Raw (Join-Path $w "LocalTarget/sites/local/Documents/csv1/dept1/a.txt") | Should -Be "hello"
        Get-Content -Raw (Join-Path $w "LocalTarget/sites/local/Shared/csv2/dept2/sub/b.txt") | Should -Be "world"
    }

    It "unattended-runbook.ps1 migrates a CSV's tasks, and exits 1 naming the task that failed" {
        $csv = Join-Path $script:root "wave1.csv"
        Set-Content -Path $csv -Value @("FileSharePath,SharePointSite,DocLibrary,DocSubFolder", "$($script:src),local,Documents,wave1")
        $w = Join-Path $script:root "w"
        $out = Invoke-Example $script:root "unattended-runbook.ps1" @{ CsvPath = $csv; WorkingFolder = $w }
        $out | Should -Match "migrated 1 task\(s\) into local/Documents/wave1"
        Get-Content -Raw (Join-Path $w "LocalTarget/sites/local/Documents/wave1/dept1/sub/b.txt") | Should -Be "world"
        # A share that is gone: the runbook's catch shows the task and the scheduler sees exit 1.
        Add-Content -Path $csv -Value (Join-Path $script:root "gone") -NoNewline
        Add-Content -Path $csv -Value ",local,Documents,wave1"
        $failed = { Invoke-Example $script:root "unattended-runbook.ps1" @{ CsvPath = $csv; WorkingFolder = $w } } |
            Should -Throw -PassThru
        "$failed" | Should -Match "exited 1"
        "$failed" | Should -Match "FAILED: .*gone"
        "$failed" | Should -Match "Status\s*: FAILED"
    }

    It "bulk-json.ps1 adds each task of SPMT's JSON file" {
        $json = Join-Path $script:root "tasks.json"
        @{ Tasks = @(@{ SourcePath = $script:src; TargetPath = "local"; TargetList = "Documents"; TargetListRelativePath = "j" }) } |
            ConvertTo-Json -Depth 5 | Set-Content -Path $json
        $w = Join-Path $script:root "w"
        $out = Invoke-Example $script:root "bulk-json.ps1" @{ JsonPath = $json; WorkingFolder = $w }
        $out | Should -Match "COMPLETED"
        $out | Should -Match "Session Finished"
        Get-FileSha256 (Join-Path $w "LocalTarget/sites/local/Documents/j/dept1/sub/deeper/c.bin") |
            Should -Be (Get-FileSha256 (Join-Path $script:src "sub/deeper/c.bin"))
    }

    It "manage-session.ps1 validates, runs, removes a started task, stops and unregisters" {
        $other = New-SourceTree (Join-Path $script:root "dept2")
        $out = Invoke-Example $script:root "manage-session.ps1" @{ Sources = @($script:src, $other) }
        $out | Should -Not -Match "Exception"
        # A scan-only session: the default working folder holds the scan's reports, the target nothing.
        @(Get-ChildItem -Recurse -Path (Join-Path $script:root "data/spmt") -Filter "ScanSummary_R1.csv").Count | Should -BeGreaterOrEqual 1
        Test-Path (Join-Path $script:root "data/spmt/session/LocalTarget/sites/local/Documents/dept1/a.txt") | Should -BeFalse
    }
}
