using System.Reflection;
using System.Runtime.CompilerServices;

[assembly: AssemblyTitle("Spmt.Net")]
[assembly: AssemblyDescription("spmt's .NET session API over its C ABI (no PowerShell dependency)")]
[assembly: InternalsVisibleTo("Spmt.Tests")]
