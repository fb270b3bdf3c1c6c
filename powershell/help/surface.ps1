# The compiled cmdlets' parameter surface (names, types, sets, mandatory, position, pipeline,
# aliases) as JSON: what dotnet-shim/maml.py writes the help's syntax from, and what
# powershell/tests/Help.Tests.ps1 compares with the compiled module so the help stays in step.
#   pwsh -NoProfile -File powershell/help/surface.ps1 [-ModulePath ...] > powershell/help/surface.json
param([string]$ModulePath = (Join-Path $PSScriptRoot "../../target/module/Spmt.PowerShell/Spmt.PowerShell.psd1"))
Import-Module $ModulePath -Force
$common = [System.Management.Automation.PSCmdlet]::CommonParameters + [System.Management.Automation.PSCmdlet]::OptionalCommonParameters
$out = [ordered]@{}
foreach ($c in Get-Command -Module Spmt.PowerShell | Sort-Object Name) {
    $params = [ordered]@{}
    foreach ($p in $c.Parameters.Values | Sort-Object Name) {
        if ($common -contains $p.Name) { continue }
        $sets = [ordered]@{}
        foreach ($a in $p.Attributes | Where-Object { $_ -is [System.Management.Automation.ParameterAttribute] } | Sort-Object ParameterSetName) {
            $sets[$a.ParameterSetName] = [ordered]@{
                Mandatory = $a.Mandatory
                Position = $(if ($a.Position -ge 0) { $a.Position } else { $null })
                PipelineByPropertyName = $a.ValueFromPipelineByPropertyName
            }
        }
        $params[$p.Name] = [ordered]@{ Type = $p.ParameterType.FullName; Aliases = @($p.Aliases | Sort-Object); Sets = $sets }
    }
    $out[$c.Name] = [ordered]@{
        DefaultParameterSet = $c.DefaultParameterSet
        Outputs = @($c.OutputType | ForEach-Object { $_.Name })
        Parameters = $params
    }
}
$out | ConvertTo-Json -Depth 8
