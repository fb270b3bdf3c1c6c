#!/usr/bin/env bash
# Tests the .NET shim, the PowerShell module and the packages (after dotnet-shim/build.sh):
#   1. the C# test program against the real cdylib (`N passed, N failed`), on Mono and on CoreCLR
#      (the vendored .NET runtime, or dotnet on PATH);
#   2. the Spmt.Net package as a C# tool consumes it: the README's example compiled against the
#      package's lib/ and run on CoreCLR with the native library from the package's runtimes/;
#   3. psbind (../shared/tools/psbind, or $SPMT_PSBIND): every PowerShell file of the project
#      parses; every SPMT cmdlet call in powershell/examples/ binds to the compiled cmdlets and
#      every property those examples read exists on the declared output types;
#   4. the manifest exports exactly the compiled cmdlets; the format file is well-formed XML;
#   5. the Pester tests (powershell/tests/run.ps1) in PowerShell 7: every cmdlet, the examples
#      run against the local target, and the Spmt.PowerShell package installed and used.
# A runtime that is missing skips its step with a message, unless SPMT_REQUIRE_PWSH=1 (Pester,
# CoreCLR) or SPMT_REQUIRE_MONO=1 (Mono) is set, as CI does.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
source dotnet-shim/platform.sh
out=$root/target/dotnet
mod=$root/target/module/Spmt.PowerShell
version=$(crate_field version)
dotnet_bin=$(find_dotnet)
pwsh_bin=$(find_pwsh)
has_mono() { command -v mono >/dev/null 2>&1 && command -v mcs >/dev/null 2>&1; }

skip_or_fail() { # skip_or_fail REQUIRE_VAR message
  if [ -n "${!1:-}" ]; then echo "test.sh: $1 is set but $2" >&2; exit 1; fi
  echo "== skipped: $2"
}

# A runtimeconfig that runs a Mono-built (net4x) program on CoreCLR, any version from 8 on.
coreclr_config() {
  cat > "$1" <<JSON
{"runtimeOptions":{"tfm":"net8.0","rollForward":"LatestMajor","framework":{"name":"Microsoft.NETCore.App","version":"8.0.0"}}}
JSON
}

# The real site for the sign-in tests: `spmt emulator` (its Entra sign-in service), and a
# certificate for app-only sign-in made with openssl, as an admin would make one.
export SPMT_BIN=${SPMT_BIN:-${CARGO_TARGET_DIR:-$root/target}/release/spmt}
[ -x "$SPMT_BIN" ] || { echo "test.sh: $SPMT_BIN is missing (dotnet-shim/build.sh builds it)" >&2; exit 1; }
certs=$root/target/dotnet/test-certificate
rm -rf "$certs"
mkdir -p "$certs"
openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 2 -subj /CN=spmt-test \
  -keyout "$certs/key.pem" -out "$certs/cert.pem" 2>/dev/null
cat "$certs/cert.pem" "$certs/key.pem" > "$certs/cert-and-key.pem"
export SPMT_TEST_CERT=$certs/cert.pem SPMT_TEST_CERT_AND_KEY=$certs/cert-and-key.pem

if [ -f "$out/tests/Spmt.Tests.exe" ]; then
  if has_mono; then
    echo "== C# tests on Mono (Spmt.Net against the cdylib, Spmt.PowerShell's logic)"
    mono "$out/tests/Spmt.Tests.exe"
    echo "== the native library beside the assembly (no runtimes/ folder, no dll config)"
    flat=$root/target/dotnet/tests-flat
    rm -rf "$flat"
    mkdir -p "$flat"
    cp "$out/tests/"*.dll "$out/tests/Spmt.Tests.exe" "$flat/"
    cp "$out"/tests/runtimes/*/native/* "$flat/"
    mono "$flat/Spmt.Tests.exe" native_
  else
    skip_or_fail SPMT_REQUIRE_MONO "Mono is missing (apt-get install mono-devel)"
  fi
  if [ -n "$dotnet_bin" ]; then
    echo "== C# tests on CoreCLR ($("$dotnet_bin" --list-runtimes | grep -m1 -o 'NETCore.App [0-9.]*'))"
    coreclr_config "$out/tests/coreclr.runtimeconfig.json"
    "$dotnet_bin" exec --runtimeconfig "$out/tests/coreclr.runtimeconfig.json" "$out/tests/Spmt.Tests.exe"
  else
    skip_or_fail SPMT_REQUIRE_PWSH "no .NET runtime for the CoreCLR run (../shared/vendor/pwsh/dotnet, or set SPMT_DOTNET)"
  fi
else
  echo "== C# tests on CoreCLR (.NET SDK build)"
  dotnet "$out/tests/Spmt.Tests.dll"
fi

echo "== Spmt.Net package: the README's C# example built against it and run on CoreCLR"
pkg=$root/target/packages/Spmt.Net.$version.nupkg
example=dotnet-shim/examples/MigrateShare.cs
# The README shows the example file as it is.
awk '/^```csharp$/ { inside = 1; block = ""; next } inside && /^```$/ { inside = 0; if (index(block, "// Migrates one file share with Spmt.Net") == 1) { printf "%s", block; exit } next } inside { block = block $0 "\n" }' README.md |
  diff -u "$example" - || { echo "test.sh: README's C# example differs from $example" >&2; exit 1; }
if [ -f "$pkg" ] && has_mono && [ -n "$dotnet_bin" ]; then
  consumer=$root/target/package-consumer
  rm -rf "$consumer"
  mkdir -p "$consumer/pkg" "$consumer/app" "$consumer/src/dept1/sub"
  unzip -q "$pkg" -d "$consumer/pkg"
  facades=$(dirname "$(command -v mcs)")/../lib/mono/4.5/Facades
  [ -d "$facades" ] || facades=/usr/lib/mono/4.5/Facades
  mcs -nologo -warnaserror+ -langversion:7.2 -target:exe -out:"$consumer/app/MigrateShare.exe" \
    -r:"$facades/netstandard.dll" -r:"$consumer/pkg/lib/netstandard2.0/Spmt.Net.dll" "$example"
  # What a PackageReference build puts in its output: the assembly, and runtimes/ as packed.
  cp "$consumer/pkg/lib/netstandard2.0/Spmt.Net.dll" "$consumer/app/"
  cp -r "$consumer/pkg/runtimes" "$consumer/app/"
  coreclr_config "$consumer/app/MigrateShare.runtimeconfig.json"
  printf 'first\n' > "$consumer/src/dept1/a.txt"
  head -c 300000 /dev/urandom > "$consumer/src/dept1/sub/random.bin"
  "$dotnet_bin" exec --runtimeconfig "$consumer/app/MigrateShare.runtimeconfig.json" \
    "$consumer/app/MigrateShare.exe" "$consumer/src/dept1" "$consumer/work" | tail -n 3
  diff -r "$consumer/src/dept1" "$consumer/work/LocalTarget/sites/local/Documents/dept1"
  echo "the package's example migrated the tree into the local target exactly"
elif [ -f "$pkg" ]; then
  skip_or_fail SPMT_REQUIRE_PWSH "the consumer test needs Mono's mcs and a .NET runtime"
else
  skip_or_fail SPMT_REQUIRE_PACKAGES "target/packages/Spmt.Net.$version.nupkg is missing (dotnet-shim/pack.sh)"
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
if has_mono; then
  mcs -nologo -out:"$work/Surface.exe" "$psbind/Surface.cs"
  mono "$work/Surface.exe" "$work/Spmt.PowerShell.dll" > "$work/surface.json"
  node "$psbind/psbind.mjs" facts powershell/examples/*.ps1 > "$work/facts.tsv"
  node "$psbind/psbind.mjs" check "$work/surface.json" "$work/facts.tsv"
else
  skip_or_fail SPMT_REQUIRE_MONO "psbind's binding check runs its Surface.cs on Mono"
fi

echo "== manifest and format file"
[ -f "$work/surface.json" ] && node -e '
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

if [ -n "$pwsh_bin" ]; then
  echo "== Pester in $("$pwsh_bin" -NoProfile -Command '"PowerShell $($PSVersionTable.PSVersion)"')"
  SPMT_PWSH=$pwsh_bin SPMT_MODULE_PATH=$mod/Spmt.PowerShell.psd1 \
    "$pwsh_bin" -NoProfile -NonInteractive -File powershell/tests/run.ps1
else
  skip_or_fail SPMT_REQUIRE_PWSH "no PowerShell 7 for the Pester tests (../shared/vendor/pwsh, or set SPMT_PWSH)"
fi
