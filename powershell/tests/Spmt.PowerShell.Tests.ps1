# Pester 5 tests of the compiled module, for machines with PowerShell 7 (pwsh) or Windows
# PowerShell 5.1 and Pester:
#   bash dotnet-shim/build.sh
#   pwsh -NoProfile -Command "Invoke-Pester -Path powershell/tests -Output Detailed"
# (CI has no PowerShell: there the same behaviour is tested through the plain classes by the C#
# test program, and psbind checks parsing and binding.)

BeforeAll {
    $repo = Resolve-Path (Join-Path $PSScriptRoot "../..")
    $modulePath = Join-Path $repo "target/module/Spmt.PowerShell/Spmt.PowerShell.psd1"
    Import-Module $modulePath -Force
    $script:work = Join-Path ([System.IO.Path]::GetTempPath()) ("spmt-pester-" + [guid]::NewGuid().ToString("N"))
    $script:source = Join-Path $script:work "share"
    New-Item -ItemType Directory -Path (Join-Path $script:source "sub") -Force | Out-Null
    Set-Content -Path (Join-Path $script:source "a.txt") -Value "hello"
    Set-Content -Path (Join-Path $script:source "sub/b.txt") -Value "world"
    $password = ConvertTo-SecureString -String "not-used" -AsPlainText -Force
    $script:credential = New-Object -TypeName System.Management.Automation.PSCredential -ArgumentList "admin", $password

    function Register-LocalMigration {
        param([string]$Name)
        Register-SPMTMigration -WorkingFolder (Join-Path $script:work "$Name-w") -LocalTargetRoot (Join-Path $script:work "$Name-t") -Force
    }
}

AfterAll {
    Unregister-SPMTMigration -WarningAction SilentlyContinue
    Remove-Item -Recurse -Force -Path $script:work -ErrorAction SilentlyContinue
}

Describe "Spmt.PowerShell" {
    It "exports SPMT's eight cmdlets" {
        $names = (Get-Command -Module Spmt.PowerShell).Name | Sort-Object
        $names | Should -Be @("Add-SPMTTask", "Get-SPMTMigration", "Register-SPMTMigration", "Remove-SPMTTask",
            "Show-SPMTMigration", "Start-SPMTMigration", "Stop-SPMTMigration", "Unregister-SPMTMigration")
    }

    It "migrates a file share in the background and the session object shows it" {
        Register-LocalMigration -Name "bg"
        Add-SPMTTask -FileShareSource $script:source -TargetSiteUrl "local" -TargetList "Documents"
        Start-SPMTMigration -NoShow
        $session = Get-SPMTMigration
        $deadline = (Get-Date).AddMinutes(3)
        while ($session.Status -ne "Finished" -and (Get-Date) -lt $deadline) {
            Start-Sleep -Milliseconds 300
        }
        $session.Status | Should -Be "Finished"
        $task = $session.StatusOfTasks[0]
        $task.Status | Should -Be "COMPLETED"
        $task.NumActuallyMigratedFiles | Should -Be 2
        $task.SourceURI | Should -Be $script:source
        $task.TaskId | Should -BeOfType [guid]
    }

    It "runs in the foreground with progress and returns when done" {
        Register-LocalMigration -Name "fg"
        Add-SPMTTask -FileShareSource $script:source -TargetSiteUrl "local" -TargetList "Documents" -TargetListRelativePath "fg"
        Start-SPMTMigration
        (Get-SPMTMigration).StatusOfTasks[0].Status | Should -Be "COMPLETED"
    }

    It "adds file-share tasks from SPMT JSON without a credential" {
        Register-LocalMigration -Name "json"
        $json = @{ Tasks = @(@{ SourcePath = $script:source; TargetPath = "local"; TargetList = "Documents" }) } | ConvertTo-Json -Depth 5
        Add-SPMTTask -JsonDefinition $json
        (Get-SPMTMigration).StatusOfTasks.Count | Should -Be 1
    }

    It "removes a task by id" {
        Register-LocalMigration -Name "remove"
        Add-SPMTTask -FileShareSource $script:source -TargetSiteUrl "local" -TargetList "Documents"
        $id = (Get-SPMTMigration).StatusOfTasks[0].TaskId
        Remove-SPMTTask -TaskId $id
        (Get-SPMTMigration).StatusOfTasks.Count | Should -Be 0
    }

    It "stops with an error naming a feature spmt does not have yet" {
        { Register-SPMTMigration -UserMappingFile "C:\map.csv" -Force } | Should -Throw -ExpectedMessage "*user mapping*"
        { Register-SPMTMigration -MigrationType WORKFLOW -Force } | Should -Throw -ExpectedMessage "*workflow migration*"
        { Register-SPMTMigration -SPOCredential $script:credential -Force } | Should -Throw -ExpectedMessage "*-AccessToken*"
        Register-LocalMigration -Name "unsupported"
        { Add-SPMTTask -SharePointSourceCredential $script:credential -SharePointSourceSiteUrl "http://sp2013/sites/a" -TargetSiteUrl "https://contoso.sharepoint.com/sites/a" -MigrateAll } |
            Should -Throw -ExpectedMessage "*SharePoint Server sources*"
    }

    It "binds deprecated parameters and warns" {
        Register-SPMTMigration -WorkingFolder (Join-Path $script:work "dep") -MigrateOneNoteFolderAsOneNoteNoteBook $true -Force -WarningVariable warnings -WarningAction SilentlyContinue
        ($warnings -join " ") | Should -Match "deprecated"
    }
}
