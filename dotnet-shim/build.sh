#!/usr/bin/env bash
# Builds the PowerShell module and the C# test program:
#   the release cdylib (cargo), Spmt.Net.dll (the shim), Spmt.PowerShell.dll (the cmdlets),
#   target/module/Spmt.PowerShell/ (manifest, format file, both assemblies,
#   runtimes/<rid>/native/<native library>), and target/dotnet/tests/ (Spmt.Tests + the same layout).
# With the .NET SDK it uses `dotnet build` (the csproj files reference PowerShellStandard.Library).
# Without it, Mono's mcs compiles against the PowerShell Standard reference surface in
# ../shared/vendor/powershell-standard/ (or $SPMT_PS_STANDARD). It installs nothing itself.
# Then dotnet-shim/pack.sh makes the packages (target/packages/). One version for all: Cargo.toml's.
# SPMT_SKIP_CARGO=1 reuses the release library already built.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
module=Spmt.PowerShell
out=$root/target/dotnet
mod=$root/target/module/$module
cargo_target=${CARGO_TARGET_DIR:-$root/target}

source dotnet-shim/platform.sh
lib=$native_lib
version=$(crate_field version)
repository=$(crate_field repository)

if [ -z "${SPMT_SKIP_CARGO:-}" ]; then
  # The binary too: the tests start `spmt emulator` as the real site (with its sign-in service).
  echo "build.sh: cargo build --release --lib --bin spmt"
  cargo build --release --lib --bin spmt
fi
native=$cargo_target/release/$lib
[ -f "$native" ] || { echo "build.sh: $native is missing (cargo build --release --lib)" >&2; exit 1; }

rm -rf "$out/bin" "$out/tests" "$out/obj"
mkdir -p "$out/bin" "$out/tests" "$out/obj"
# Both assemblies carry the crate's version.
cat > "$out/obj/Version.cs" <<CS
[assembly: System.Reflection.AssemblyVersion("$version.0")]
[assembly: System.Reflection.AssemblyFileVersion("$version.0")]
[assembly: System.Reflection.AssemblyInformationalVersion("$version")]
CS
if command -v dotnet >/dev/null 2>&1 && dotnet --list-sdks 2>/dev/null | grep -q .; then
  echo "build.sh: dotnet build (.NET SDK)"
  v=(-p:Version="$version" -p:GenerateDocumentationFile=true)
  dotnet build -c Release -nologo "${v[@]}" dotnet-shim/Spmt.Net/Spmt.Net.csproj -o "$out/bin"
  dotnet build -c Release -nologo "${v[@]}" dotnet-shim/Spmt.PowerShell/Spmt.PowerShell.csproj -o "$out/bin"
  dotnet build -c Release -nologo "${v[@]}" dotnet-shim/Spmt.Tests/Spmt.Tests.csproj -o "$out/tests"
  tests_exe="dotnet $out/tests/Spmt.Tests.dll"
elif command -v mcs >/dev/null 2>&1; then
  echo "build.sh: mcs (Mono) against the PowerShell Standard reference surface"
  sma=${SPMT_PS_STANDARD:-$root/../shared/vendor/powershell-standard}/System.Management.Automation.dll
  [ -f "$sma" ] || { echo "build.sh: $sma is missing (set SPMT_PS_STANDARD to the folder holding it)" >&2; exit 1; }
  facades=$(dirname "$(command -v mcs)")/../lib/mono/4.5/Facades
  [ -d "$facades" ] || facades=/usr/lib/mono/4.5/Facades
  mcs_flags=(-langversion:7.2 -nologo -warnaserror+ -optimize+ -debug- -r:"$facades/netstandard.dll"
    -r:"$facades/System.Runtime.InteropServices.RuntimeInformation.dll")
  # The sources of one project (not what a dotnet build left under obj/ or bin/).
  sources() { find "dotnet-shim/$1" -name '*.cs' -not -path '*/obj/*' -not -path '*/bin/*' | sort; }
  mapfile -t shim_src < <(sources Spmt.Net)
  mapfile -t module_src < <(sources Spmt.PowerShell)
  mapfile -t tests_src < <(sources Spmt.Tests)
  # XML docs for the package; members documented by their SPMT names alone (TaskId, ErrorMsg...)
  # carry no comment, so CS1591 is not an error here.
  mcs "${mcs_flags[@]}" -nowarn:1591 -target:library -out:"$out/bin/Spmt.Net.dll" -doc:"$out/bin/Spmt.Net.xml" \
    "$out/obj/Version.cs" "${shim_src[@]}"
  mcs "${mcs_flags[@]}" -target:library -out:"$out/bin/Spmt.PowerShell.dll" -r:"$sma" -r:"$out/bin/Spmt.Net.dll" \
    "$out/obj/Version.cs" "${module_src[@]}"
  mcs "${mcs_flags[@]}" -target:exe -out:"$out/tests/Spmt.Tests.exe" -r:"$sma" -r:"$out/bin/Spmt.Net.dll" \
    -r:"$out/bin/Spmt.PowerShell.dll" -r:System.Core.dll "${tests_src[@]}"
  cp "$out/bin/Spmt.Net.dll" "$out/bin/Spmt.PowerShell.dll" "$out/tests/"
  # Only the test that reflects over the cmdlet classes reads it; nothing executes it.
  cp "$sma" "$out/tests/"
  tests_exe="mono $out/tests/Spmt.Tests.exe"
else
  echo "build.sh: neither the .NET SDK (dotnet) nor Mono (mcs) is installed" >&2
  exit 3
fi

# The importable module.
rm -rf "$mod"
mkdir -p "$mod/runtimes/$rid/native" "$out/tests/runtimes/$rid/native"
cp "$out/bin/Spmt.Net.dll" "$out/bin/Spmt.PowerShell.dll" "$mod/"
# Mono's mapping of DllImport("spmt") to runtimes/<rid>/native/ (.NET ignores the file).
cp dotnet-shim/Spmt.Net/Spmt.Net.dll.config "$mod/"
cp dotnet-shim/Spmt.Net/Spmt.Net.dll.config "$out/tests/"
cp powershell/$module.format.ps1xml "$mod/"
# The manifest gets Cargo.toml's version and repository.
sed -e "s|^\( *ModuleVersion *= *\)'[^']*'|\1'$version'|" \
    -e "s|^\( *ProjectUri *= *\)'[^']*'|\1'$repository'|" \
    -e "s|^\( *HelpInfoUri *= *\)'[^']*'|\1'$repository#readme'|" \
    powershell/$module.psd1 > "$mod/$module.psd1"
mkdir -p "$mod/en-US"
cp powershell/en-US/*.help.txt "$mod/en-US/"
# Get-Help's text for the cmdlets (MAML), from powershell/help/ (cmdlets.json, surface.json).
python3 dotnet-shim/maml.py "$mod/en-US/Spmt.PowerShell.dll-Help.xml"
# The shipped engine without its debug info (release keeps line tables for backtraces: ~70 MB
# with, ~11 MB without); the tests use the same stripped file.
if command -v strip >/dev/null 2>&1; then
  strip --strip-debug -o "$mod/runtimes/$rid/native/$lib" "$native"
else
  cp "$native" "$mod/runtimes/$rid/native/"
fi
cp "$mod/runtimes/$rid/native/$lib" "$out/tests/runtimes/$rid/native/"
echo "build.sh: module at target/module/$module (Import-Module ./target/module/$module)"
echo "build.sh: tests: $tests_exe"
bash dotnet-shim/pack.sh
