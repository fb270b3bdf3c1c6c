# Sourced by build.sh, pack.sh and test.sh: the platform's runtime identifier and native library
# name, Cargo.toml's fields, and where PowerShell 7 and a .NET runtime are.

case "$(uname -s)" in
  Linux) os=linux; native_lib=libspmt.so ;;
  Darwin) os=osx; native_lib=libspmt.dylib ;;
  MINGW* | MSYS* | CYGWIN*) os=win; native_lib=spmt.dll ;;
  *) echo "unsupported OS $(uname -s)" >&2; exit 2 ;;
esac
case "$(uname -m)" in
  x86_64 | amd64) arch=x64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) arch=$(uname -m) ;;
esac
rid=$os-$arch

# crate_field NAME: the [package] field of Cargo.toml (version, repository, description).
crate_field() {
  sed -n '/^\[package\]/,/^\[/ s/^'"$1"' *= *"\(.*\)"$/\1/p' Cargo.toml | head -1
}

# PowerShell 7: $SPMT_PWSH, the vendored bundle beside the checkout, or pwsh on PATH.
find_pwsh() {
  if [ -n "${SPMT_PWSH:-}" ]; then echo "$SPMT_PWSH"
  elif [ -x ../shared/vendor/pwsh/pwsh ]; then (cd ../shared/vendor/pwsh && echo "$PWD/pwsh")
  elif command -v pwsh >/dev/null 2>&1; then command -v pwsh
  fi
}

# The dotnet host that runs .NET (Core) programs: $SPMT_DOTNET, the vendored one, or dotnet.
find_dotnet() {
  if [ -n "${SPMT_DOTNET:-}" ]; then echo "$SPMT_DOTNET"
  elif [ -x ../shared/vendor/pwsh/dotnet/dotnet ]; then (cd ../shared/vendor/pwsh/dotnet && echo "$PWD/dotnet")
  elif command -v dotnet >/dev/null 2>&1; then command -v dotnet
  fi
}
