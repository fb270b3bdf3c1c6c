# Pester 5 tests of the compiled module in a real PowerShell: every cmdlet and parameter set, the
# session object's properties and types, the format views, background and foreground runs, stop
# and resume. Each migration goes into the embedded local target and the test reads the bytes
# that arrived there.
#   bash dotnet-shim/build.sh && pwsh -NoProfile -File powershell/tests/run.ps1

BeforeAll {
    . (Join-Path $PSScriptRoot "TestHelpers.ps1")
    Import-Module $script:modulePath -Force
    $password = ConvertTo-SecureString -String "not-used" -AsPlainText -Force
    $script:credential = New-Object -TypeName System.Management.Automation.PSCredential -ArgumentList "admin", $password
}

AfterAll {
    Unregister-SPMTMigration -WarningAction SilentlyContinue
}

Describe "The module" {
    It "exports SPMT's eight cmdlets and nothing else" {
        $names = (Get-Command -Module Spmt.PowerShell).Name | Sort-Object
        $names | Should -Be @("Add-SPMTTask", "Get-SPMTMigration", "Register-SPMTMigration", "Remove-SPMTTask",
            "Show-SPMTMigration", "Start-SPMTMigration", "Stop-SPMTMigration", "Unregister-SPMTMigration")
    }

    It "carries the crate's version and its project links" {
        $cargo = Get-Content -Raw (Join-Path $script:repo "Cargo.toml")
        $version = [regex]::Match($cargo, '(?m)^version\s*=\s*"([^"]+)"').Groups[1].Value
        $m = Get-Module Spmt.PowerShell
        $m.Version.ToString() | Should -Be $version
        $m.ProjectUri | Should -Not -BeNullOrEmpty
        $m.HelpInfoUri | Should -Not -BeNullOrEmpty
        $m.ReleaseNotes | Should -Not -BeNullOrEmpty
        $m.CompatiblePSEditions | Should -Contain "Core"
    }

    It "gives Add-SPMTTask SPMT's four parameter sets, FileShare by default" {
        $c = Get-Command Add-SPMTTask
        ($c.ParameterSets.Name | Sort-Object) | Should -Be @("FileShare", "Json", "SharePointMigrateAll", "SharePointMigrateSelected")
        $c.DefaultParameterSet | Should -Be "FileShare"
    }

    It "completes enumerations, Booleans and task ids" {
        $complete = { param($line) (TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches.CompletionText }
        & $complete 'Add-SPMTTask -MigrationType ' | Should -Be @("CONTENT", "WORKFLOW")
        & $complete 'Register-SPMTMigration -MigrateSiteSettings ONLY' | Should -Be @("ONLY_TITLE_LOGO")
        & $complete 'Register-SPMTMigration -DuplicatePageBehavior ' | Should -Contain "NO_PAGES_MIGRATION"
        & $complete 'Register-SPMTMigration -ScanOnly ' | Should -Be @('$true', '$false')
        $root = New-ScratchFolder "complete"
        try {
            Register-LocalMigration -Root $root
            $t = Add-SPMTTask -FileShareSource $root -TargetSiteUrl "local" -TargetList "Documents" -PassThru
            & $complete 'Remove-SPMTTask -TaskId ' | Should -Be @($t.TaskId.ToString())
        }
        finally {
            Unregister-SPMTMigration -WarningAction SilentlyContinue
            Remove-Item -Recurse -Force $root -ErrorAction SilentlyContinue
        }
    }

    It "types SPMT's Boolean settings as bool and its switches as switches" {
        $p = (Get-Command Register-SPMTMigration).Parameters
        $p["ScanOnly"].ParameterType | Should -Be ([bool])
        $p["IncludeHiddenFiles"].ParameterType | Should -Be ([bool])
        $p["Force"].ParameterType | Should -Be ([switch])
        $p["MigrateWithoutRootFolder"].ParameterType | Should -Be ([switch])
        $p["MigrateFilesCreatedAfter"].ParameterType | Should -Be ([datetime])
        $p["IncludeHiddenFiles"].Aliases | Should -Contain "MigrateHiddenFiles"
        (Get-Command Remove-SPMTTask).Parameters["TaskId"].ParameterType | Should -Be ([guid])
    }
}

Describe "Register-SPMTMigration" {
    BeforeAll { $script:root = New-ScratchFolder "register" }
    AfterAll { Remove-Item -Recurse -Force $script:root -ErrorAction SilentlyContinue }

    It "registers a session that is not started and has no tasks" {
        Register-LocalMigration -Root $script:root
        $s = Get-SPMTMigration
        $s.Status | Should -Be "NotStarted"
        $s.StatusOfTasks.Count | Should -Be 0
        $s.WorkingFolder | Should -Be (Join-Path $script:root "work")
        $s.LocalTargetRoot | Should -Be (Join-Path $script:root "target")
    }

    It "shows the session's settings as they were given" {
        Register-LocalMigration -Root $script:root -Settings @{
            ScanOnly = $true; IncludeHiddenFiles = $false; SkipFilesWithExtension = @("tmp", "bak")
            ReplacementOfInvalidChar = "-"; MigrateWithoutRootFolder = $true
            MigrateFilesModifiedAfter = [datetime]"2024-05-06T14:30:00Z"
        }
        $s = Get-SPMTMigration
        $s.ScanOnly | Should -BeTrue
        $s.IncludeHiddenFiles | Should -BeFalse
        $s.SkipFilesWithExtension | Should -Be @("tmp", "bak")
        $s.ReplacementOfInvalidChar | Should -Be "-"
        $s.MigrateWithoutRootFolder | Should -BeTrue
        $s.MigrateFilesModifiedAfter.ToUniversalTime() | Should -Be ([datetime]::new(2024, 5, 6, 14, 30, 0, [DateTimeKind]::Utc))
        $s.MigrationType | Should -Be "CONTENT"
    }

    It "takes the version and user-mapping settings SharePoint Server tasks use" {
        $map = Join-Path $script:root "map.csv"
        Set-Content -Path $map -Value "contoso\alice,alice@contoso.com,FALSE"
        Register-LocalMigration -Root $script:root -Settings @{
            UserMappingFile = $map; KeepAllVersions = $false; NumberOfVersionToMigrate = 3
        }
        $s = Get-SPMTMigration
        $s.UserMappingFile | Should -Be $map
        $s.KeepAllVersions | Should -BeFalse
        $s.MigrateFileVersionHistory | Should -BeTrue
        $s.AutomaticUserMapping | Should -BeTrue
    }

    It "binds SPMT's older name MigrateHiddenFiles" {
        Register-LocalMigration -Root $script:root -Settings @{ MigrateHiddenFiles = $false }
        (Get-SPMTMigration).IncludeHiddenFiles | Should -BeFalse
    }

    It "never shows the access token" {
        Register-LocalMigration -Root $script:root -Settings @{ AccessToken = "eyJ0eXAi.secret-token-value" }
        $s = Get-SPMTMigration
        ($s | Format-List * | Out-String) | Should -Not -Match "secret-token-value"
        ($s.Settings | ConvertTo-Json) | Should -Not -Match "secret-token-value"
        $s.Settings.AccessToken | Should -Be "REDACTED"
    }

    It "replaces an idle session with a warning when -Force is not given" {
        Register-LocalMigration -Root $script:root
        Add-SPMTTask -FileShareSource $script:root -TargetSiteUrl "local" -TargetList "Documents"
        Register-SPMTMigration -WorkingFolder (Join-Path $script:root "work2") -WarningVariable w -WarningAction SilentlyContinue
        ($w -join " ") | Should -Match "unregistered"
        (Get-SPMTMigration).StatusOfTasks.Count | Should -Be 0
    }

    It "refuses a working folder it could never write in, at once" {
        $e = { Register-SPMTMigration -WorkingFolder "/proc/spmt-nope" -Force } | Should -Throw -PassThru
        $e.Exception.Message | Should -Match "WorkingFolder"
        $e.Exception.Message | Should -Match "/proc/spmt-nope"
        $e.CategoryInfo.Category | Should -Be "InvalidArgument"
    }

    It "refuses a replacement character SharePoint does not allow, naming it" {
        $e = { Register-LocalMigration -Root $script:root -Settings @{ ReplacementOfInvalidChar = "*" } } | Should -Throw -PassThru
        $e.Exception.Message | Should -Match "ReplacementOfInvalidChar"
        $e.CategoryInfo.Category | Should -Be "InvalidArgument"
    }

    It "stops with NotImplemented for <Name>" -ForEach @(
        @{ Name = "workflow migration"; Splat = @{ MigrationType = "WORKFLOW" }; Pattern = "*workflow*" }
        @{ Name = "custom Azure storage"; Splat = @{ UseCustomAzureStorage = $true }; Pattern = "*Azure storage*" }
        @{ Name = "permission inheritance"; Splat = @{ PreservePermissionInheritance = $true }; Pattern = "*permission*" }
    ) {
        $e = { Register-SPMTMigration @Splat -Force } | Should -Throw -PassThru
        $e.Exception.Message | Should -BeLike $Pattern
        $e.CategoryInfo.Category | Should -Be "NotImplemented"
    }

    It "takes -SPOCredential as a password sign-in and never shows the password" {
        Register-SPMTMigration -SPOCredential $script:credential -ClientId "8d1f6a53-2b7c-4e0a-9c3d-5e6f7a8b9c0d" -WorkingFolder (Join-Path $script:root "cred") -Force
        $s = Get-SPMTMigration
        $s.Settings.AuthMethod | Should -Be "password"
        $s.Settings.Username | Should -Be "admin"
        ($s.Settings | ConvertTo-Json -Depth 4) | Should -Not -Match "not-used"
    }

    It "changes nothing with -WhatIf" {
        Register-LocalMigration -Root $script:root
        $before = (Get-SPMTMigration).WorkingFolder
        Register-SPMTMigration -WorkingFolder (Join-Path $script:root "whatif") -Force -WhatIf 6>$null
        (Get-SPMTMigration).WorkingFolder | Should -Be $before
        Test-Path (Join-Path $script:root "whatif") | Should -BeFalse
    }

    It "binds parameters SPMT deprecated and warns" {
        Register-SPMTMigration -WorkingFolder (Join-Path $script:root "dep") -MigrateOneNoteFolderAsOneNoteNoteBook $true -Incremental $true -Force -WarningVariable w -WarningAction SilentlyContinue
        ($w -join " ") | Should -Match "deprecated"
    }
}

Describe "Add-SPMTTask" {
    BeforeAll {
        $script:root = New-ScratchFolder "add"
        $script:src = New-SourceTree (Join-Path $script:root "dept1")
    }
    BeforeEach { Register-LocalMigration -Root $script:root }
    AfterAll { Remove-Item -Recurse -Force $script:root -ErrorAction SilentlyContinue }

    It "takes tasks from a bulk CSV through the pipeline and returns them with -PassThru" {
        $csv = Join-Path $script:root "tasks.csv"
        # Migration Manager's header row; SPMT's JSON names (SourcePath, TargetPath) bind too.
        @(
            "FileSharePath,SharePointSite,DocLibrary,DocSubFolder"
            "$($script:src),local,Documents,one"
            "$($script:src),local,Other,"
        ) | Set-Content -Path $csv
        $added = Import-Csv $csv | Add-SPMTTask -PassThru
        $added.Count | Should -Be 2
        $tasks = (Get-SPMTMigration).StatusOfTasks
        $tasks.Count | Should -Be 2
        $added[0].TaskId | Should -Be $tasks[0].TaskId
        $tasks[0].TargetListRelativePath | Should -BeLike "one/*"
        $tasks[1].TargetList | Should -Be "Other"
        $tasks[1].TargetListRelativePath | Should -Be "dept1"
        [pscustomobject]@{ SourcePath = $script:src; TargetPath = "local"; TargetList = "Third" } | Add-SPMTTask
        (Get-SPMTMigration).StatusOfTasks.Count | Should -Be 3
    }

    It "resolves -FileShareSource as PowerShell does: current location, PSDrive; refuses other providers" {
        Push-Location $script:root
        try {
            Add-SPMTTask -FileShareSource "dept1" -TargetSiteUrl "local" -TargetList "Documents"
        }
        finally { Pop-Location }
        (Get-SPMTMigration).StatusOfTasks[0].SourceURI | Should -Be $script:src
        New-PSDrive -Name SPMTSRC -PSProvider FileSystem -Root $script:root | Out-Null
        try {
            Add-SPMTTask -FileShareSource "SPMTSRC:/dept1" -TargetSiteUrl "local" -TargetList "Other"
        }
        finally { Remove-PSDrive SPMTSRC }
        (Get-SPMTMigration).StatusOfTasks[1].SourceURI | Should -Be $script:src
        { Add-SPMTTask -FileShareSource "Env:/HOME" -TargetSiteUrl "local" -TargetList "Documents" -ErrorAction Stop } |
            Should -Throw -ExpectedMessage "*Environment provider*"
    }

    It "says what to do with a Windows source path (<Path>) on this machine" -Skip:$IsWindows -ForEach @(
        @{ Path = 'C:\Shares\Dept1'; Says = "*no drive C:*New-PSDrive -Name C*" }
        @{ Path = '\\server\share\dept1'; Says = "*UNC*mount*" }
        @{ Path = 'Q:/dept1'; Says = "*no drive Q:*" }
    ) {
        Add-SPMTTask -FileShareSource $Path -TargetSiteUrl "local" -TargetList "Documents" -ErrorVariable errs -ErrorAction SilentlyContinue
        $errs.Count | Should -Be 1
        $errs[0].FullyQualifiedErrorId | Should -BeLike "Spmt.DirectoryNotFoundException,*"
        $errs[0].CategoryInfo.Category | Should -Be "ObjectNotFound"
        $errs[0].TargetObject | Should -Not -BeNullOrEmpty
        "$($errs[0])" | Should -BeLike "-FileShareSource*$Says"
        @((Get-SPMTMigration).StatusOfTasks).Count | Should -Be 0
        # A letter mapped as a PSDrive is a path like any other.
        New-PSDrive -Name Q -PSProvider FileSystem -Root $script:root | Out-Null
        try { Add-SPMTTask -FileShareSource "Q:/dept1" -TargetSiteUrl "local" -TargetList "Documents" -ErrorAction Stop }
        finally { Remove-PSDrive Q }
        (Get-SPMTMigration).StatusOfTasks[0].SourceURI | Should -Be $script:src
    }

    It "resolves -WorkingFolder against the current location and ~" {
        Push-Location $script:root
        try {
            Register-SPMTMigration -WorkingFolder "w-rel" -LocalTargetRoot "t-rel" -Force -WarningAction SilentlyContinue
        }
        finally { Pop-Location }
        (Get-SPMTMigration).WorkingFolder | Should -Be (Join-Path $script:root "w-rel")
        (Get-SPMTMigration).LocalTargetRoot | Should -Be (Join-Path $script:root "t-rel")
        $name = "spmt-pester-" + [guid]::NewGuid().ToString("N").Substring(0, 8)
        try {
            Register-SPMTMigration -WorkingFolder "~/$name" -Force -WarningAction SilentlyContinue
            (Get-SPMTMigration).WorkingFolder | Should -Be (Join-Path $HOME $name)
        }
        finally {
            Unregister-SPMTMigration -WarningAction SilentlyContinue
            Remove-Item -Recurse -Force (Join-Path $HOME $name) -ErrorAction SilentlyContinue
        }
    }

    It "adds a file-share task that waits to start" {
        Add-SPMTTask -FileShareSource $script:src -TargetSiteUrl "local" -TargetList "Documents"
        $t = (Get-SPMTMigration).StatusOfTasks[0]
        $t.Status | Should -Be "INITED"
        $t.SourceURI | Should -Be $script:src
        $t.TargetList | Should -Be "Documents"
        $t.TaskId | Should -BeOfType [guid]
    }

    It "keeps the target folder (-TargetListRelativePath)" {
        Add-SPMTTask -FileShareSource $script:src -TargetSiteUrl "local" -TargetList "Documents" -TargetListRelativePath "Archive/2024"
        $t = (Get-SPMTMigration).StatusOfTasks[0]
        # The task's own folder goes under it, as SPMT puts the source's root folder there.
        $t.TargetListRelativePath | Should -BeLike "Archive/2024*"
        $t.TargetURI | Should -Match "Archive/2024"
    }

    It "adds every task of SPMT's JSON definition" {
        $json = @{ Tasks = @(
                @{ SourcePath = $script:src; TargetPath = "local"; TargetList = "Documents" }
                @{ SourcePath = $script:src; TargetPath = "local"; TargetList = "Other"; TargetListRelativePath = "x" }
            ) } | ConvertTo-Json -Depth 5
        Add-SPMTTask -JsonDefinition $json
        $tasks = (Get-SPMTMigration).StatusOfTasks
        $tasks.Count | Should -Be 2
        $tasks[1].TargetList | Should -Be "Other"
    }

    It "adds one task from SPMT's JSON task object" {
        $json = @{ SourcePath = $script:src; TargetPath = "local"; TargetList = "Documents" } | ConvertTo-Json
        Add-SPMTTask -JsonDefinition $json
        (Get-SPMTMigration).StatusOfTasks.Count | Should -Be 1
    }

    It "refuses JSON that is not a task, saying what is missing" {
        $e = { Add-SPMTTask -JsonDefinition '{"SourcePath": "/x"}' -ErrorAction Stop } | Should -Throw -PassThru
        $e.Exception.Message | Should -Match "TargetPath"
        (Get-SPMTMigration).StatusOfTasks.Count | Should -Be 0
    }

    It "stops with NotImplemented for a whole site at once (-MigrateAll)" {
        $e = { Add-SPMTTask -SharePointSourceCredential $script:credential -SharePointSourceSiteUrl "http://sp2013/sites/a" -TargetSiteUrl "local" -MigrateAll -ErrorAction Stop } |
            Should -Throw -PassThru
        $e.Exception.Message | Should -BeLike "*-SourceList*"
        $e.CategoryInfo.Category | Should -Be "NotImplemented"
    }

    It "requires the target list in the file-share set" {
        { Add-SPMTTask -FileShareSource $script:src -TargetSiteUrl "local" -ErrorAction Stop } | Should -Throw
        (Get-SPMTMigration).StatusOfTasks.Count | Should -Be 0
    }

    It "adds the good rows of a bulk file and writes one error per bad row, naming it" {
        $rows = @(
            [pscustomobject]@{ FileSharePath = $script:src; SharePointSite = "local"; DocLibrary = "Documents"; DocSubFolder = "one" }
            [pscustomobject]@{ FileSharePath = $script:src; SharePointSite = "ftp://nowhere"; DocLibrary = "Documents"; DocSubFolder = "bad" }
            [pscustomobject]@{ FileSharePath = $script:src; SharePointSite = "local"; DocLibrary = "Documents"; DocSubFolder = "two" }
        )
        $rows | Add-SPMTTask -ErrorVariable errs -ErrorAction SilentlyContinue
        $? | Should -BeFalse
        (Get-SPMTMigration).StatusOfTasks.Count | Should -Be 2
        $errs.Count | Should -Be 1
        $errs[0].TargetObject["TargetSiteUrl"] | Should -Be "ftp://nowhere"
        $errs[0].CategoryInfo.Category | Should -Be "InvalidArgument"
        $errs[0].ToString() | Should -Not -Match "(^|\s)--[a-z]"
    }

    It "needs a registered session first" {
        Unregister-SPMTMigration
        { Add-SPMTTask -FileShareSource $script:src -TargetSiteUrl "local" -TargetList "Documents" } |
            Should -Throw -ExpectedMessage "*Register-SPMTMigration*"
    }
}

Describe "Start-SPMTMigration" {
    BeforeAll { $script:root = New-ScratchFolder "start" }
    BeforeEach {
        $script:case = Join-Path $script:root ([guid]::NewGuid().ToString("N").Substring(0, 6))
        $script:src = New-SourceTree (Join-Path $script:case "dept1") -Extra @{ "skip.tmp" = "temp"; ".hidden" = "h" }
    }
    AfterAll { Remove-Item -Recurse -Force $script:root -ErrorAction SilentlyContinue }

    It "runs in the background (-NoShow) and the live session object follows it" {
        Register-LocalMigration -Root $script:case
        Add-SPMTTask -FileShareSource $script:src -TargetSiteUrl "local" -TargetList "Documents"
        Start-SPMTMigration -NoShow
        $session = Get-SPMTMigration
        Wait-Finished $session | Out-Null
        $session.Result | Should -Be "Succeeded"
        $t = $session.StatusOfTasks[0]
        $t.Status | Should -Be "COMPLETED"
        $t.NumActuallyMigratedFiles | Should -Be 5
        $t.NumFailedFiles | Should -Be 0
        $t.MigratingProgressPercentage | Should -Be 100
        $lib = Get-TargetLibrary $script:case
        Get-Content -Raw (Join-Path $lib "dept1/a.txt") | Should -Be "hello"
        Get-FileSha256 (Join-Path $lib "dept1/sub/deeper/c.bin") | Should -Be (Get-FileSha256 (Join-Path $script:src "sub/deeper/c.bin"))
    }

    It "runs in the foreground and returns when done" {
        Register-LocalMigration -Root $script:case
        Add-SPMTTask -FileShareSource $script:src -TargetSiteUrl "local" -TargetList "Documents" -TargetListRelativePath "fg"
        Start-SPMTMigration -ProgressAction SilentlyContinue 6>$null
        $t = (Get-SPMTMigration).StatusOfTasks[0]
        $t.Status | Should -Be "COMPLETED"
        Get-Content -Raw (Join-Path (Get-TargetLibrary $script:case) "fg/dept1/sub/b.txt") | Should -Be "world"
    }

    It "applies the session's scan rules (extensions, hidden files, no root folder)" {
        Register-LocalMigration -Root $script:case -Settings @{ SkipFilesWithExtension = @("tmp"); IncludeHiddenFiles = $false; MigrateWithoutRootFolder = $true }
        Add-SPMTTask -FileShareSource $script:src -TargetSiteUrl "local" -TargetList "Documents"
        Start-SPMTMigration -NoShow
        $t = (Wait-Finished).StatusOfTasks[0]
        $t.NumActuallyMigratedFiles | Should -Be 3
        $lib = Get-TargetLibrary $script:case
        Test-Path (Join-Path $lib "a.txt") | Should -BeTrue
        Test-Path (Join-Path $lib "skip.tmp") | Should -BeFalse
        Test-Path (Join-Path $lib ".hidden") | Should -BeFalse
        Test-Path (Join-Path $lib "dept1") | Should -BeFalse
    }

    It "scans only with -ScanOnly `$true: counts, sends nothing" {
        Register-LocalMigration -Root $script:case -Settings @{ ScanOnly = $true }
        Add-SPMTTask -FileShareSource $script:src -TargetSiteUrl "local" -TargetList "Documents"
        Start-SPMTMigration -NoShow
        $t = (Wait-Finished).StatusOfTasks[0]
        $t.NumScannedTotalFiles | Should -Be 5
        $t.NumActuallyMigratedFiles | Should -Be 0
        Test-Path (Join-Path (Get-TargetLibrary $script:case) "dept1/a.txt") | Should -BeFalse
    }

    It "runs an incremental round when started again: only what changed is sent" {
        Register-LocalMigration -Root $script:case
        Add-SPMTTask -FileShareSource $script:src -TargetSiteUrl "local" -TargetList "Documents"
        Start-SPMTMigration -NoShow
        Wait-Finished | Out-Null
        Set-Content -NoNewline -Path (Join-Path $script:src "a.txt") -Value "hello again"
        (Get-Item (Join-Path $script:src "a.txt")).LastWriteTimeUtc = (Get-Date).ToUniversalTime().AddMinutes(1)
        Start-SPMTMigration -NoShow
        $t = (Wait-Finished).StatusOfTasks[0]
        $t.Round | Should -Be 2
        $t.NumActuallyMigratedFiles | Should -Be 1
        # Files only (its three folders are unchanged too, and not counted here).
        $t.NumUnchangedFiles | Should -Be 4
        Get-Content -Raw (Join-Path (Get-TargetLibrary $script:case) "dept1/a.txt") | Should -Be "hello again"
    }

    It "fails a task whose source does not exist, with the reason" {
        Register-LocalMigration -Root $script:case
        Add-SPMTTask -FileShareSource (Join-Path $script:case "missing") -TargetSiteUrl "local" -TargetList "Documents"
        Start-SPMTMigration -NoShow
        $s = Wait-Finished
        $s.StatusOfTasks[0].Status | Should -Be "FAILED"
        $s.StatusOfTasks[0].ErrorMsg | Should -Match "missing"
        $s.Result | Should -Be "Failed"
    }

    It "reports a failed task of a foreground run as an error: `$? is false, -ErrorAction Stop throws" {
        Register-LocalMigration -Root $script:case
        Add-SPMTTask -FileShareSource (Join-Path $script:case "missing") -TargetSiteUrl "local" -TargetList "Documents"
        Start-SPMTMigration -ProgressAction SilentlyContinue -ErrorVariable errs -ErrorAction SilentlyContinue 6>$null
        $ok = $?
        $ok | Should -BeFalse
        $errs.Count | Should -Be 1
        $errs[0].FullyQualifiedErrorId | Should -BeLike "Spmt.TaskFailed,*"
        $errs[0].CategoryInfo.Category | Should -Be "ObjectNotFound"
        $errs[0].TargetObject.Status | Should -Be "FAILED"
        $errs[0].TargetObject.TaskId | Should -Be (Get-SPMTMigration).StatusOfTasks[0].TaskId
        "$($errs[0])" | Should -Match "missing"
        { Start-SPMTMigration -ProgressAction SilentlyContinue -ErrorAction Stop 6>$null } |
            Should -Throw -ExpectedMessage "*FAILED*"
    }

    It "reports a task that completed with errors as an error naming its reports" {
        New-Item -ItemType File -Path (Join-Path $script:src "bad?.txt") | Out-Null
        Register-LocalMigration -Root $script:case
        Add-SPMTTask -FileShareSource $script:src -TargetSiteUrl "local" -TargetList "Documents"
        Start-SPMTMigration -ProgressAction SilentlyContinue -ErrorVariable errs -ErrorAction SilentlyContinue 6>$null
        $errs.Count | Should -Be 1
        $errs[0].FullyQualifiedErrorId | Should -BeLike "Spmt.TaskCompletedWithErrors,*"
        $errs[0].CategoryInfo.Category | Should -Be "InvalidResult"
        $errs[0].TargetObject.NumFailedFiles | Should -Be 1
        "$($errs[0])" | Should -Match "item reports"
        # The good files arrived all the same.
        Get-Content -Raw (Join-Path (Get-TargetLibrary $script:case) "dept1/a.txt") | Should -Be "hello"
    }

    It "writes status lines to the Information stream, where they can be captured or silenced" {
        Register-LocalMigration -Root $script:case
        Add-SPMTTask -FileShareSource $script:src -TargetSiteUrl "local" -TargetList "Documents"
        $captured = Start-SPMTMigration -ProgressAction SilentlyContinue 6>&1
        $info = @($captured | Where-Object { $_ -is [System.Management.Automation.InformationRecord] })
        $info.Count | Should -Be 1
        $info[0].Tags | Should -Contain "Spmt"
        "$($info[0].MessageData)" | Should -Match "COMPLETED: 5 files migrated"
        # Silenced: nothing reaches the success stream or the host.
        $none = Start-SPMTMigration -NoShow -InformationAction Ignore *>&1
        @($none).Count | Should -Be 0
        Wait-Finished | Out-Null
    }

    It "writes a run's details to Verbose and the engine's diagnostics to Debug" {
        Register-LocalMigration -Root $script:case
        Add-SPMTTask -FileShareSource $script:src -TargetSiteUrl "local" -TargetList "Documents"
        $DebugPreference = "Continue"
        $VerbosePreference = "Continue"
        $all = Start-SPMTMigration -ProgressAction SilentlyContinue *>&1
        $verbose = @($all | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] } | ForEach-Object Message)
        $debug = @($all | Where-Object { $_ -is [System.Management.Automation.DebugRecord] } | ForEach-Object Message)
        $verbose -match "finished: COMPLETED" | Should -Not -BeNullOrEmpty
        $debug -match "^local target at " | Should -Not -BeNullOrEmpty
        $verbose -match "^local target at " | Should -BeNullOrEmpty
    }

    It "keeps its status lines in a hostless runspace" {
        $ps = [powershell]::Create()
        try {
            $module = (Get-Module Spmt.PowerShell).Path
            $null = $ps.AddScript({
                    param($module, $root, $src)
                    Import-Module $module
                    Register-SPMTMigration -WorkingFolder (Join-Path $root "work") -LocalTargetRoot (Join-Path $root "target") -Force -WarningAction SilentlyContinue
                    Add-SPMTTask -FileShareSource $src -TargetSiteUrl "local" -TargetList "Documents"
                    Start-SPMTMigration -ProgressAction SilentlyContinue
                    Unregister-SPMTMigration
                }).AddArgument($module).AddArgument((Join-Path $script:case "hostless")).AddArgument($script:src)
            $null = $ps.Invoke()
            $ps.Streams.Error.Count | Should -Be 0
            @($ps.Streams.Information | Where-Object { "$($_.MessageData)" -match "COMPLETED" }).Count | Should -Be 1
        }
        finally { $ps.Dispose() }
    }

    It "checks the tasks without running them (-ParametersValidationOnly)" {
        Register-LocalMigration -Root $script:case
        Add-SPMTTask -FileShareSource $script:src -TargetSiteUrl "local" -TargetList "Documents"
        Start-SPMTMigration -ParametersValidationOnly -ErrorVariable errs
        $errs.Count | Should -Be 0
        Add-SPMTTask -FileShareSource (Join-Path $script:case "nope") -TargetSiteUrl "local" -TargetList "Documents"
        Start-SPMTMigration -ParametersValidationOnly -ErrorVariable errs -ErrorAction SilentlyContinue
        $errs.Count | Should -Be 1
        "$($errs[0])" | Should -Match "nope"
        (Get-SPMTMigration).Status | Should -Be "NotStarted"
    }

    It "writes SPMT's reports into the report folders" {
        Register-LocalMigration -Root $script:case
        Add-SPMTTask -FileShareSource $script:src -TargetSiteUrl "local" -TargetList "Documents"
        Start-SPMTMigration -NoShow
        $s = Wait-Finished
        Test-Path (Join-Path $s.ReportFolderPath "SummaryReport.csv") | Should -BeTrue
        # The log the summary names is there, written by the cmdlets' own run.
        $logPath = (Import-Csv (Join-Path $s.ReportFolderPath "SummaryReport.csv"))[0].'Log Path'
        $logPath | Should -Be (Join-Path $s.WorkingFolder "spmt.log")
        Get-Content -Raw $logPath | Should -Match "target resolved"
        $rows = Get-ChildItem -Path $s.StatusOfTasks[0].ReportFolder -Filter "ItemReport_R1.csv" | ForEach-Object { Import-Csv $_.FullName }
        @($rows | Where-Object { $_.Status -eq "Migrated" }).Count | Should -BeGreaterOrEqual 5
    }
}

Describe "The session object" {
    BeforeAll {
        $script:root = New-ScratchFolder "object"
        $script:src = New-SourceTree (Join-Path $script:root "dept1")
        Register-LocalMigration -Root $script:root
        Add-SPMTTask -FileShareSource $script:src -TargetSiteUrl "local" -TargetList "Documents"
        Start-SPMTMigration -NoShow
        $script:session = Wait-Finished
    }
    AfterAll { Remove-Item -Recurse -Force $script:root -ErrorAction SilentlyContinue }

    It "is the same live object on every Get-SPMTMigration" {
        [object]::ReferenceEquals((Get-SPMTMigration), $script:session) | Should -BeTrue
        $script:session | Should -BeOfType "Spmt.PowerShell.SpmtMigrationSession"
    }

    It "has SPMT's session properties with their types" {
        $script:session.Status | Should -BeOfType [string]
        $script:session.ReportFolderPath | Should -BeOfType [string]
        $script:session.WorkingFolder | Should -BeOfType [string]
        $script:session.ScanOnly | Should -BeOfType [bool]
        $script:session.StatusOfTasks.GetType().Name | Should -Be 'List`1'
    }

    It "has SPMT's task properties with their types" {
        $t = $script:session.StatusOfTasks[0]
        $t | Should -BeOfType "Spmt.MigrationTaskStatus"
        $t.TaskId | Should -BeOfType [guid]
        $t.MigratingProgressPercentage | Should -BeOfType [int]
        foreach ($n in "NumScannedTotalFiles", "NumScannedBadFiles", "NumFileWillBeMigrated", "NumActuallyMigratedFiles", "NumFailedFiles") {
            $t.$n | Should -BeOfType [long] -Because $n
        }
        $t.NumScannedTotalFiles | Should -Be 3
        $t.NumFileWillBeMigrated | Should -Be 3
        $t.ErrorMsg | Should -BeNullOrEmpty
        Test-Path $t.ReportFolder | Should -BeTrue
        $t.StartTime | Should -BeOfType [datetime]
        $t.EndTime | Should -BeGreaterOrEqual $t.StartTime
    }

    It "formats tasks as a table with the progress columns" {
        $text = $script:session.StatusOfTasks | Format-Table | Out-String -Width 300
        $text | Should -Match "TaskId\s+Status\s+%\s+Scanned\s+Migrated\s+Failed\s+SourceURI\s+TargetURI"
        $text | Should -Match "COMPLETED"
    }

    It "has an about topic" {
        (Get-Help about_Spmt.PowerShell | Out-String) | Should -Match "Register-SPMTMigration"
    }

    It "formats the session with its task counts" {
        $text = $script:session | Out-String -Width 300
        $text | Should -Match "Tasks"
        $text | Should -Match "Completed"
        $text | Should -Match "Finished"
    }
}

Describe "Show-SPMTMigration, Stop-SPMTMigration and resume" {
    BeforeAll {
        $script:root = New-ScratchFolder "stop"
        $script:src = Join-Path $script:root "big"
        foreach ($i in 0..399) {
            $d = Join-Path $script:src ("d{0}" -f ($i % 8))
            if (-not (Test-Path $d)) { New-Item -ItemType Directory -Path $d | Out-Null }
            Set-Content -NoNewline -Path (Join-Path $d ("f{0:D4}.txt" -f $i)) -Value ("file $i " + ("x" * (1000 + $i)))
        }
    }
    AfterAll { Remove-Item -Recurse -Force $script:root -ErrorAction SilentlyContinue }

    It "brings a background run to the foreground and returns when it ends" {
        Register-LocalMigration -Root (Join-Path $script:root "show")
        Add-SPMTTask -FileShareSource $script:src -TargetSiteUrl "local" -TargetList "Documents"
        Start-SPMTMigration -NoShow
        Show-SPMTMigration -ProgressAction SilentlyContinue 6>$null
        (Get-SPMTMigration).Status | Should -Be "Finished"
        (Get-SPMTMigration).StatusOfTasks[0].NumActuallyMigratedFiles | Should -Be 400
    }

    It "stops a running migration, and starting again completes it with every file once" {
        $case = Join-Path $script:root "resume"
        Register-LocalMigration -Root $case
        Add-SPMTTask -FileShareSource $script:src -TargetSiteUrl "local" -TargetList "Documents"
        Start-SPMTMigration -NoShow
        $s = Get-SPMTMigration
        $deadline = (Get-Date).AddSeconds(60)
        while ($s.StatusOfTasks[0].Status -eq "INITED" -and (Get-Date) -lt $deadline) { Start-Sleep -Milliseconds 20 }
        Stop-SPMTMigration
        $s.Status | Should -Be "Finished"
        $s.StatusOfTasks[0].Status | Should -BeIn @("STOPPED", "COMPLETED")
        Start-SPMTMigration -NoShow
        $t = (Wait-Finished).StatusOfTasks[0]
        $t.Status | Should -Be "COMPLETED"
        $t.NumFailedFiles | Should -Be 0
        $lib = Join-Path (Get-TargetLibrary $case) "big"
        @(Get-ChildItem -Recurse -File $lib).Count | Should -Be 400
        Get-Content -Raw (Join-Path $lib "d7/f0399.txt") | Should -Be (Get-Content -Raw (Join-Path $script:src "d7/f0399.txt"))
    }

    It "stops a running migration on Register -Force, and the object a script holds says so" {
        Register-LocalMigration -Root (Join-Path $script:root "force")
        Add-SPMTTask -FileShareSource $script:src -TargetSiteUrl "local" -TargetList "Documents"
        Start-SPMTMigration -NoShow
        $held = Get-SPMTMigration
        $deadline = (Get-Date).AddSeconds(60)
        while ($held.StatusOfTasks[0].Status -eq "INITED" -and (Get-Date) -lt $deadline) { Start-Sleep -Milliseconds 20 }
        Register-LocalMigration -Root (Join-Path $script:root "force-next")
        $held.Status | Should -Be "Finished"
        $held.StatusOfTasks[0].Status | Should -BeIn @("STOPPED", "COMPLETED")
        (Get-SPMTMigration).Status | Should -Be "NotStarted"
    }

    It "warns when there is nothing to stop" {
        Register-LocalMigration -Root (Join-Path $script:root "idle")
        Stop-SPMTMigration -WarningVariable w -WarningAction SilentlyContinue
        ($w -join " ") | Should -Match "No migration is running"
    }

    It "warns, as Unregister does, when no session is registered" {
        Unregister-SPMTMigration -WarningAction SilentlyContinue
        Stop-SPMTMigration -WarningVariable w -WarningAction SilentlyContinue -ErrorAction Stop
        ($w -join " ") | Should -Match "No migration session is registered"
    }

    It "needs a registered session to show" {
        Unregister-SPMTMigration -WarningAction SilentlyContinue
        { Show-SPMTMigration } | Should -Throw -ExpectedMessage "*Register-SPMTMigration*"
    }
}

Describe "A -NoShow run when PowerShell exits" {
    It "is stopped cleanly with a warning, and a new process resumes it exactly" {
        if (-not $env:SPMT_PWSH) { throw "SPMT_PWSH must name pwsh (run.ps1's callers set it)" }
        $root = New-ScratchFolder "exit"
        $src = Join-Path $root "share"
        New-Item -ItemType Directory -Path $src | Out-Null
        1..1500 | ForEach-Object { [System.IO.File]::WriteAllText((Join-Path $src "f$_.txt"), "file $_") }
        $setup = "Import-Module '$script:modulePath'; " +
            "Register-SPMTMigration -WorkingFolder '$root/work' -LocalTargetRoot '$root/target' -MigrateWithoutRootFolder -Force; " +
            "Add-SPMTTask -FileShareSource '$src' -TargetSiteUrl local -TargetList Documents; "
        try {
            $out = & $env:SPMT_PWSH -NoProfile -NonInteractive -Command ($setup + 'Start-SPMTMigration -NoShow 6>$null') 2>&1 | Out-String
            $out | Should -Match "was stopped because"
            $out | Should -Match "Start-SPMTMigration resume it"
            $out = & $env:SPMT_PWSH -NoProfile -NonInteractive -Command ($setup + 'Start-SPMTMigration 6>$null; (Get-SPMTMigration).StatusOfTasks[0].Status') 2>&1 | Out-String
            $out | Should -Match "COMPLETED"
            (Get-ChildItem -File (Join-Path $root "target/sites/local/Documents")).Count | Should -Be 1500
        }
        finally { Remove-Item -Recurse -Force $root -ErrorAction SilentlyContinue }
    }
}

Describe "One migration per runspace" {
    BeforeAll { $script:root = New-ScratchFolder "runspaces" }
    AfterAll { Remove-Item -Recurse -Force $script:root -ErrorAction SilentlyContinue }

    It "runs two thread jobs' migrations at once, each exactly, and leaves this runspace's session alone" {
        Register-LocalMigration -Root (Join-Path $script:root "main")
        Add-SPMTTask -FileShareSource (New-SourceTree (Join-Path $script:root "main-src")) -TargetSiteUrl "local" -TargetList "Documents"
        $module = (Get-Module Spmt.PowerShell).Path
        $jobs = foreach ($n in 1, 2) {
            $case = Join-Path $script:root "job$n"
            $src = Join-Path $case "src$n"
            New-Item -ItemType Directory -Force -Path $src | Out-Null
            foreach ($i in 1..150) { Set-Content -NoNewline -Path (Join-Path $src "f$i.txt") -Value "job $n file $i" }
            Start-ThreadJob -ArgumentList $module, $case, $src -ScriptBlock {
                param($module, $case, $src)
                Import-Module $module
                Register-SPMTMigration -WorkingFolder (Join-Path $case "work") -LocalTargetRoot (Join-Path $case "target") -Force -WarningAction SilentlyContinue
                Add-SPMTTask -FileShareSource $src -TargetSiteUrl "local" -TargetList "Documents"
                Start-SPMTMigration -ProgressAction SilentlyContinue -InformationAction Ignore
                $t = (Get-SPMTMigration).StatusOfTasks[0]
                "{0} {1} {2}" -f $t.Status, $t.NumActuallyMigratedFiles, $t.NumFailedFiles
            }
        }
        $results = $jobs | Wait-Job -Timeout 180 | Receive-Job -ErrorAction Stop
        $jobs | Remove-Job -Force
        $results | Should -Be @("COMPLETED 150 0", "COMPLETED 150 0")
        foreach ($n in 1, 2) {
            $lib = Join-Path $script:root "job$n/target/sites/local/Documents/src$n"
            @(Get-ChildItem -File $lib).Count | Should -Be 150
            Get-Content -Raw (Join-Path $lib "f77.txt") | Should -Be "job $n file 77"
        }
        # This runspace's session was neither replaced nor run.
        $s = Get-SPMTMigration
        $s.WorkingFolder | Should -Be (Join-Path $script:root "main/work")
        $s.StatusOfTasks.Count | Should -Be 1
        $s.StatusOfTasks[0].Status | Should -Be "INITED"
    }

    It "detaches a foreground run on Ctrl+C ([powershell]::Stop()) and the run goes on" {
        $ps = [powershell]::Create()
        $case = Join-Path $script:root "ctrlc"
        $src = Join-Path $case "src"
        New-Item -ItemType Directory -Force -Path $src | Out-Null
        foreach ($i in 1..600) { Set-Content -NoNewline -Path (Join-Path $src "f$i.txt") -Value ("file $i " + ("y" * 2000)) }
        $module = (Get-Module Spmt.PowerShell).Path
        try {
            $null = $ps.AddScript({
                    param($module, $case, $src)
                    Import-Module $module
                    Register-SPMTMigration -WorkingFolder (Join-Path $case "work") -LocalTargetRoot (Join-Path $case "target") -Force -WarningAction SilentlyContinue
                    Add-SPMTTask -FileShareSource $src -TargetSiteUrl "local" -TargetList "Documents"
                    Start-SPMTMigration
                }).AddArgument($module).AddArgument($case).AddArgument($src)
            $async = $ps.BeginInvoke()
            # The foreground run is showing progress: press Ctrl+C.
            $deadline = (Get-Date).AddSeconds(60)
            while ($ps.Streams.Progress.Count -eq 0 -and (Get-Date) -lt $deadline) { Start-Sleep -Milliseconds 20 }
            $ps.Streams.Progress.Count | Should -BeGreaterThan 0
            $watch = [System.Diagnostics.Stopwatch]::StartNew()
            $ps.Stop()
            $watch.Elapsed.TotalSeconds | Should -BeLessThan 10
            # Not stopped: the same runspace shows it to its end, every file there once.
            $ps.Commands.Clear()
            $null = $ps.AddScript({
                    Show-SPMTMigration -ProgressAction SilentlyContinue -InformationAction Ignore
                    $t = (Get-SPMTMigration).StatusOfTasks[0]
                    "{0} {1}" -f $t.Status, $t.NumActuallyMigratedFiles
                })
            $ps.Invoke() | Should -Be "COMPLETED 600"
            @(Get-ChildItem -File (Join-Path $case "target/sites/local/Documents/src")).Count | Should -Be 600
        }
        finally { $ps.Dispose() }
    }

    It "says on Ctrl+C (SIGINT) that the run goes on in the background" -Skip:$IsWindows {
        $case = Join-Path $script:root "sigint"
        $src = Join-Path $case "src"
        New-Item -ItemType Directory -Force -Path $src | Out-Null
        foreach ($i in 1..2000) { Set-Content -NoNewline -Path (Join-Path $src "f$i.txt") -Value ("file $i " + ("z" * 2000)) }
        $script = Join-Path $case "run.ps1"
        Set-Content -Path $script -Value @"
Import-Module '$((Get-Module Spmt.PowerShell).Path)'
Register-SPMTMigration -WorkingFolder '$case/work' -LocalTargetRoot '$case/target' -Force -WarningAction SilentlyContinue
Add-SPMTTask -FileShareSource '$src' -TargetSiteUrl local -TargetList Documents
Start-SPMTMigration
"@
        # A child started from a shell's background job inherits SIGINT ignored; python puts the
        # default action back before it becomes pwsh, so the signal is Ctrl+C as a console sends it.
        $psi = [System.Diagnostics.ProcessStartInfo]::new("python3")
        foreach ($a in @("-c", "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execvp(sys.argv[1], sys.argv[1:])",
                $env:SPMT_PWSH, "-NoProfile", "-NonInteractive", "-File", $script)) { $psi.ArgumentList.Add($a) }
        $psi.RedirectStandardOutput = $true
        $psi.RedirectStandardError = $true
        $child = [System.Diagnostics.Process]::Start($psi)
        $stdout = $child.StandardOutput.ReadToEndAsync()
        $null = $child.StandardError.ReadToEndAsync()
        $log = Join-Path $case "work/spmt.log"
        $deadline = (Get-Date).AddSeconds(60)
        while (-not ((Test-Path $log) -and (Get-Content -Raw $log) -match "target resolved") -and (Get-Date) -lt $deadline) { Start-Sleep -Milliseconds 20 }
        & kill -INT $child.Id
        $child.WaitForExit(60000) | Should -BeTrue
        $lines = @($stdout.Result -split "`n" | Where-Object { $_ -match "keeps running in the background" })
        $lines.Count | Should -Be 1
        $lines[0] | Should -Match "Show-SPMTMigration shows its progress again, Stop-SPMTMigration cancels it"
    }

    It "stops and frees a hosted runspace's session when the runspace closes" {
        $ps = [powershell]::Create()
        $case = Join-Path $script:root "hosted"
        $src = New-SourceTree (Join-Path $case "src")
        $module = (Get-Module Spmt.PowerShell).Path
        $null = $ps.AddScript({
                param($module, $case, $src)
                Import-Module $module
                Register-SPMTMigration -WorkingFolder (Join-Path $case "work") -LocalTargetRoot (Join-Path $case "target") -Force -WarningAction SilentlyContinue
                Add-SPMTTask -FileShareSource $src -TargetSiteUrl "local" -TargetList "Documents"
                Start-SPMTMigration -NoShow -InformationAction Ignore
            }).AddArgument($module).AddArgument($case).AddArgument($src)
        $null = $ps.Invoke()
        $ps.Runspace.Close()
        $ps.Dispose()
        # Freed: the working folder's lock is released, so this runspace can use it at once.
        Register-SPMTMigration -WorkingFolder (Join-Path $case "work") -LocalTargetRoot (Join-Path $case "target") -Force -WarningAction SilentlyContinue
        Add-SPMTTask -FileShareSource $src -TargetSiteUrl "local" -TargetList "Documents"
        Start-SPMTMigration -ProgressAction SilentlyContinue -InformationAction Ignore
        (Get-SPMTMigration).StatusOfTasks[0].Status | Should -Be "COMPLETED"
        Test-Path (Join-Path $case "target/sites/local/Documents/src/a.txt") | Should -BeTrue
        Unregister-SPMTMigration
    }
}

Describe "Remove-SPMTTask and Unregister-SPMTMigration" {
    BeforeAll {
        $script:root = New-ScratchFolder "remove"
        $script:src = New-SourceTree (Join-Path $script:root "dept1")
    }
    BeforeEach { Register-LocalMigration -Root $script:root }
    AfterAll { Remove-Item -Recurse -Force $script:root -ErrorAction SilentlyContinue }

    It "removes a task by its id" {
        Add-SPMTTask -FileShareSource $script:src -TargetSiteUrl "local" -TargetList "Documents"
        Add-SPMTTask -FileShareSource $script:src -TargetSiteUrl "local" -TargetList "Other"
        $first = (Get-SPMTMigration).StatusOfTasks[0].TaskId
        Remove-SPMTTask -TaskId $first
        $left = (Get-SPMTMigration).StatusOfTasks
        $left.Count | Should -Be 1
        $left[0].TargetList | Should -Be "Other"
    }

    It "changes nothing with -WhatIf" {
        Add-SPMTTask -FileShareSource $script:src -TargetSiteUrl "local" -TargetList "Documents"
        $id = (Get-SPMTMigration).StatusOfTasks[0].TaskId
        Remove-SPMTTask -TaskId $id -WhatIf 6>$null
        (Get-SPMTMigration).StatusOfTasks.Count | Should -Be 1
        Unregister-SPMTMigration -WhatIf 6>$null
        (Get-SPMTMigration).StatusOfTasks.Count | Should -Be 1
        Stop-SPMTMigration -WhatIf -WarningAction SilentlyContinue 6>$null
    }

    It "says which id it could not find" {
        $id = [guid]::NewGuid()
        $e = { Remove-SPMTTask -TaskId $id -ErrorAction Stop } | Should -Throw -PassThru
        $e.Exception.Message | Should -Match $id.ToString()
        $e.CategoryInfo.Category | Should -Be "ObjectNotFound"
    }

    It "unregisters, after which the session is gone" {
        Unregister-SPMTMigration
        { Get-SPMTMigration } | Should -Throw -ExpectedMessage "*Register-SPMTMigration*"
        Unregister-SPMTMigration -WarningVariable w -WarningAction SilentlyContinue
        ($w -join " ") | Should -Match "No migration session"
    }
}
