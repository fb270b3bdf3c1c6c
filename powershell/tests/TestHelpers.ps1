# Shared by the Pester files: where the module under test is, scratch folders, a source tree,
# and waiting for a background run. Dot-sourced from each file's BeforeAll.

$script:repo = (Resolve-Path (Join-Path $PSScriptRoot "../..")).Path
# run.ps1 sets SPMT_MODULE_PATH; by hand, the folder dotnet-shim/build.sh makes.
$script:modulePath = if ($env:SPMT_MODULE_PATH) { $env:SPMT_MODULE_PATH } else {
    Join-Path $script:repo "target/module/Spmt.PowerShell/Spmt.PowerShell.psd1"
}

function New-ScratchFolder {
    param([string]$Name)
    $d = Join-Path ([System.IO.Path]::GetTempPath()) ("spmt-pester-$Name-" + [guid]::NewGuid().ToString("N").Substring(0, 8))
    New-Item -ItemType Directory -Path $d -Force | Out-Null
    $d
}

# A small file share: a.txt, sub/b.txt, sub/deeper/c.bin (3 files), plus extras on request.
function New-SourceTree {
    param([string]$Path, [hashtable]$Extra = @{})
    New-Item -ItemType Directory -Path (Join-Path $Path "sub/deeper") -Force | Out-Null
    Set-Content -NoNewline -Path (Join-Path $Path "a.txt") -Value "hello"
    Set-Content -NoNewline -Path (Join-Path $Path "sub/b.txt") -Value "world"
    [System.IO.File]::WriteAllBytes((Join-Path $Path "sub/deeper/c.bin"), [byte[]](0..255))
    foreach ($k in $Extra.Keys) {
        $p = Join-Path $Path $k
        New-Item -ItemType Directory -Path (Split-Path $p) -Force | Out-Null
        Set-Content -NoNewline -Path $p -Value $Extra[$k]
    }
    $Path
}

# Registers a session whose working folder and local target live under $Root.
function Register-LocalMigration {
    param([string]$Root, [hashtable]$Settings = @{})
    $splat = @{ WorkingFolder = (Join-Path $Root "work"); LocalTargetRoot = (Join-Path $Root "target"); Force = $true }
    foreach ($k in $Settings.Keys) { $splat[$k] = $Settings[$k] }
    Register-SPMTMigration @splat -WarningAction SilentlyContinue
}

# The local target's copy of a library: <LocalTargetRoot>/sites/local/<Library>.
function Get-TargetLibrary {
    param([string]$Root, [string]$Library = "Documents")
    Join-Path $Root "target/sites/local/$Library"
}

# Polls the live session object until the run has finished (or fails the test after 3 minutes).
function Wait-Finished {
    param($Session = (Get-SPMTMigration), [int]$Seconds = 180)
    $deadline = (Get-Date).AddSeconds($Seconds)
    while ($Session.Status -ne "Finished") {
        if ((Get-Date) -gt $deadline) { throw "the migration did not finish in $Seconds s (status $($Session.Status))" }
        Start-Sleep -Milliseconds 200
    }
    $Session
}

# A PSCredential, as a script makes one.
function New-Cred([string]$User, [string]$Password) {
    [System.Management.Automation.PSCredential]::new($User, (ConvertTo-SecureString -String $Password -AsPlainText -Force))
}

# Starts `spmt emulator` ($env:SPMT_BIN) as its own process with these arguments (and extra
# environment); returns the process, its standard output still open for the lines it prints.
function Start-SpmtEmulator {
    param([string[]]$Arguments, [hashtable]$Environment = @{})
    if (-not $env:SPMT_BIN -or -not (Test-Path $env:SPMT_BIN)) { throw "SPMT_BIN must name the spmt binary (dotnet-shim/test.sh sets it)" }
    $psi = [System.Diagnostics.ProcessStartInfo]::new($env:SPMT_BIN)
    foreach ($a in @("emulator") + $Arguments) { $psi.ArgumentList.Add($a) }
    foreach ($k in $Environment.Keys) { $psi.Environment[$k] = $Environment[$k] }
    $psi.RedirectStandardOutput = $true
    [System.Diagnostics.Process]::Start($psi)
}

function Stop-SpmtEmulator($Process) {
    if ($Process -and -not $Process.HasExited) { $Process.Kill(); $Process.WaitForExit(10000) | Out-Null }
}

function Get-FileSha256 {
    param([string]$Path)
    (Get-FileHash -Algorithm SHA256 -Path $Path).Hash
}
