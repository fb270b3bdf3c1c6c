#!/usr/bin/env bash
# Builds the two packages into target/packages/ (after dotnet-shim/build.sh), both at the
# version in Cargo.toml:
#   Spmt.PowerShell.<version>.nupkg  Publish-PSResource of target/module/Spmt.PowerShell into a
#                                    local file repository (PowerShell 7 with PSResourceGet);
#   Spmt.Net.<version>.nupkg         NuGet.exe pack of dotnet-shim/packaging/Spmt.Net.nuspec
#                                    (on Mono): lib/netstandard2.0 + runtimes/<rid>/native.
# PowerShell: $SPMT_PWSH, else ../shared/vendor/pwsh/pwsh, else pwsh. NuGet.exe: $SPMT_NUGET, else
# ../shared/vendor/nuget/NuGet.exe. A package whose tool is missing is skipped with a message,
# unless SPMT_REQUIRE_PACKAGES=1 (CI), which fails instead.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
source dotnet-shim/platform.sh
out=$root/target/dotnet
mod=$root/target/module/Spmt.PowerShell
pkgs=$root/target/packages
version=$(crate_field version)
[ -f "$mod/Spmt.PowerShell.psd1" ] || { echo "pack.sh: build the module first (bash dotnet-shim/build.sh)" >&2; exit 1; }
rm -rf "$pkgs"
mkdir -p "$pkgs"

missing() {
  if [ -n "${SPMT_REQUIRE_PACKAGES:-}" ]; then echo "pack.sh: $1" >&2; exit 1; fi
  echo "pack.sh: skipped: $1"
}

pwsh_bin=$(find_pwsh)
if [ -n "$pwsh_bin" ]; then
  scratch=$(mktemp -d)
  # .NET reports a per-user folder only once it exists (PSResourceGet falls back to HOME).
  mkdir -p "$scratch/data" "$scratch/config" "$scratch/cache"
  HOME=$scratch XDG_DATA_HOME=$scratch/data XDG_CONFIG_HOME=$scratch/config XDG_CACHE_HOME=$scratch/cache \
    "$pwsh_bin" -NoProfile -NonInteractive -File dotnet-shim/packaging/publish-module.ps1 \
    -ModuleFolder "$mod" -Repository "$pkgs"
  rm -rf "$scratch"
  [ -f "$pkgs/Spmt.PowerShell.$version.nupkg" ] || { echo "pack.sh: Publish-PSResource made no Spmt.PowerShell.$version.nupkg" >&2; exit 1; }
  echo "pack.sh: target/packages/Spmt.PowerShell.$version.nupkg"
else
  missing "no PowerShell 7 for Publish-PSResource (set SPMT_PWSH)"
fi

nuget=${SPMT_NUGET:-$root/../shared/vendor/nuget/NuGet.exe}
if [ -f "$nuget" ] && command -v mono >/dev/null 2>&1; then
  [ -f "$out/bin/Spmt.Net.xml" ] || { echo "pack.sh: $out/bin/Spmt.Net.xml (XML docs) is missing" >&2; exit 1; }
  # NuGet keeps a cache and config under HOME; a scratch HOME leaves the caller's alone.
  scratch=$(mktemp -d)
  HOME=$scratch mono "$nuget" pack dotnet-shim/packaging/Spmt.Net.nuspec -OutputDirectory "$pkgs" \
    -NonInteractive -Verbosity quiet \
    -Properties "version=$version;bin=$out/bin;native=$mod/runtimes/$rid/native/$native_lib;rid=$rid"
  rm -rf "$scratch"
  echo "pack.sh: target/packages/Spmt.Net.$version.nupkg"
else
  missing "NuGet.exe on Mono is needed for Spmt.Net.nupkg (mono-devel; set SPMT_NUGET)"
fi
