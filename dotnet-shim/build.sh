#!/usr/bin/env bash
# Builds the PowerShell module and the C# test program:
#   the release cdylib (cargo), Spmt.Net.dll (the shim), Spmt.PowerShell.dll (the cmdlets),
#   target/module/Spmt.PowerShell/ (manifest, format file, both assemblies,
#   runtimes/<rid>/native/<native library>), and target/dotnet/tests/ (Spmt.Tests + the same layout).
# With the .NET SDK it uses `dotnet build` (the csproj files reference PowerShellStandard.Library).
# Without it, Mono's mcs compiles against the PowerShell Standard reference surface in
# ../shared/vendor/powershell-standard/ (or $SPMT_PS_STANDARD). It installs nothing itself.
# SPMT_SKIP_CARGO=1 reuses the release library already built.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
module=Spmt.PowerShell
out=$root/target/dotnet
mod=$root/target/module/$module
cargo_target=${CARGO_TARGET_DIR:-$root/target}

case "$(uname -s)" in
  Linux) os=linux; lib=libspmt.so ;;
  Darwin) os=osx; lib=libspmt.dylib ;;
  MINGW* | MSYS* | CYGWIN*) os=win; lib=spmt.dll ;;
  *) echo "build.sh: unsupported OS $(uname -s)" >&2; exit 2 ;;
esac
case "$(uname -m)" in
  x86_64 | amd64) arch=x64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) arch=$(uname -m) ;;
esac
rid=$os-$arch

if [ -z "${SPMT_SKIP_CARGO:-}" ]; then
  echo "build.sh: cargo build --release --lib"
  cargo build --release --lib
fi
native=$cargo_target/release/$lib
[ -f "$native" ] || { echo "build.sh: $native is missing (cargo build --release --lib)" >&2; exit 1; }

rm -rf "$out/bin" "$out/tests"
mkdir -p "$out/bin" "$out/tests"
if command -v dotnet >/dev/null 2>&1 && dotnet --list-sdks 2>/dev/null | grep -q .; then
  echo "build.sh: dotnet build (.NET SDK)"
  dotnet build -c Release -nologo dotnet-shim/Spmt.Net/Spmt.Net.csproj -o "$out/bin"
  dotnet build -c Release -nologo dotnet-shim/Spmt.PowerShell/Spmt.PowerShell.csproj -o "$out/bin"
  dotnet build -c Release -nologo dotnet-shim/Spmt.Tests/Spmt.Tests.csproj -o "$out/tests"
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
  mcs "${mcs_flags[@]}" -target:library -out:"$out/bin/Spmt.Net.dll" "${shim_src[@]}"
  mcs "${mcs_flags[@]}" -target:library -out:"$out/bin/Spmt.PowerShell.dll" -r:"$sma" -r:"$out/bin/Spmt.Net.dll" \
    "${module_src[@]}"
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
cp powershell/$module.psd1 powershell/$module.format.ps1xml "$mod/"
cp "$native" "$mod/runtimes/$rid/native/"
cp "$native" "$out/tests/runtimes/$rid/native/"
echo "build.sh: module at target/module/$module (Import-Module ./target/module/$module)"
echo "build.sh: tests: $tests_exe"
