using System.Reflection;
using System.Runtime.CompilerServices;

[assembly: AssemblyTitle("Spmt.PowerShell")]
[assembly: AssemblyDescription("SPMT's eight cmdlets over spmt's engine")]
[assembly: InternalsVisibleTo("Spmt.Tests")]
