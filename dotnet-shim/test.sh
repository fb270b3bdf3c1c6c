#!/usr/bin/env bash
# Tests the .NET shim and the PowerShell module (after dotnet-shim/build.sh):
#   1. the C# test program against the real cdylib (`N passed, N failed`);
#   2. psbind (../shared/tools/psbind, or $SPMT_PSBIND): every PowerShell file of the project
#      parses; every SPMT cmdlet call in powershell/examples/ binds to the compiled cmdlets and
#      every property those examples read exists on the declared output types;
#   3. the manifest exports exactly the compiled cmdlets; the format file is well-formed XML.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=$root/target/dotnet
mod=$root/target/module/Spmt.PowerShell

echo "== C# tests (Spmt.Net against the cdylib, Spmt.PowerShell's logic)"
if [ -f "$out/tests/Spmt.Tests.exe" ]; then
  mono "$out/tests/Spmt.Tests.exe"
else
  dotnet "$out/tests/Spmt.Tests.dll"
fi

if [ -f "$out/tests/Spmt.Tests.exe" ]; then
  echo "== the native library beside the assembly (no runtimes/ folder, no dll config)"
  flat=$root/target/dotnet/tests-flat
  rm -rf "$flat"
  mkdir -p "$flat"
  cp "$out/tests/"*.dll "$out/tests/Spmt.Tests.exe" "$flat/"
  cp "$out"/tests/runtimes/*/native/* "$flat/"
  mono "$flat/Spmt.Tests.exe" native_
fi

echo "== psbind"
psbind=${SPMT_PSBIND:-$root/../shared/tools/psbind}
[ -f "$psbind/psbind.mjs" ] || { echo "test.sh: psbind not found at $psbind (set SPMT_PSBIND)" >&2; exit 1; }
if [ ! -d "$psbind/node_modules/web-tree-sitter" ]; then
  # ../shared is not ours to write: install psbind's npm packages into a copy under target/.
  copy=$root/target/psbind-tool
  if [ ! -d "$copy/node_modules/web-tree-sitter" ]; then
    echo "installing psbind's npm packages in $copy"
    rm -rf "$copy"
    mkdir -p "$copy"
    cp "$psbind"/*.mjs "$psbind"/*.cs "$psbind"/package.json "$psbind"/package-lock.json "$copy/"
    npm ci --prefix "$copy" --no-audit --no-fund >/dev/null
  fi
  psbind=$copy
fi
mapfile -t ps_files < <(git ls-files '*.ps1' '*.psm1' '*.psd1')
node "$psbind/psbind.mjs" syntax "${ps_files[@]}"

work=$root/target/psbind
rm -rf "$work"
mkdir -p "$work"
sma=${SPMT_PS_STANDARD:-$root/../shared/vendor/powershell-standard}/System.Management.Automation.dll
cp "$mod/Spmt.PowerShell.dll" "$mod/Spmt.Net.dll" "$sma" "$work/"
mcs -nologo -out:"$work/Surface.exe" "$psbind/Surface.cs"
mono "$work/Surface.exe" "$work/Spmt.PowerShell.dll" > "$work/surface.json"
node "$psbind/psbind.mjs" facts powershell/examples/*.ps1 > "$work/facts.tsv"
node "$psbind/psbind.mjs" check "$work/surface.json" "$work/facts.tsv"

echo "== manifest and format file"
node -e '
  const fs = require("fs");
  const surface = JSON.parse(fs.readFileSync(process.argv[1], "utf8")).cmdlets.map((c) => c.name).sort();
  const psd1 = fs.readFileSync(process.argv[2], "utf8");
  const list = psd1.match(/CmdletsToExport\s*=\s*@\(([^)]*)\)/)[1].match(/[\w]+-[\w]+/g).sort();
  const want = ["Add-SPMTTask", "Get-SPMTMigration", "Register-SPMTMigration", "Remove-SPMTTask", "Show-SPMTMigration",
    "Start-SPMTMigration", "Stop-SPMTMigration", "Unregister-SPMTMigration"];
  const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
  if (!same(surface, want) || !same(list, want)) {
    console.log("compiled: " + surface.join(", ") + "\nmanifest: " + list.join(", "));
    process.exit(1);
  }
  console.log("manifest exports the 8 compiled cmdlets");
' "$work/surface.json" "$mod/Spmt.PowerShell.psd1"
if command -v xmllint >/dev/null 2>&1; then
  xmllint --noout "$mod/Spmt.PowerShell.format.ps1xml" "$mod/Spmt.Net.dll.config"
  echo "format file and dll config are well-formed"
fi
