// Migrates one file share with Spmt.Net, from any .NET tool (no PowerShell). The README shows
// this file; dotnet-shim/test.sh compiles it against the Spmt.Net package and runs it on CoreCLR.
//   MigrateShare <source folder> <working folder> [target site URL, default: local]
using System;
using System.Threading;
using Spmt;

static class MigrateShare
{
    static int Main(string[] args)
    {
        var site = args.Length > 2 ? args[2] : "local";   // "local": the embedded local target
        using (var s = new MigrationSession(new MigrationSettings { WorkingFolder = args[1] }))
        {
            s.AddFileShareTask(args[0], site, "Documents");
            s.EventReceived += (o, e) => Console.WriteLine(e.Event);   // raised on this thread
            s.Start();
            s.WaitForCompletion(Timeout.Infinite);
            var failed = 0L;
            foreach (var t in s.GetStatus().StatusOfTasks)
            {
                Console.WriteLine("{0} {1}: {2} migrated, {3} failed", t.TaskId, t.Status, t.NumActuallyMigratedFiles, t.NumFailedFiles);
                failed += t.NumFailedFiles;
            }
            return failed == 0 ? 0 : 1;
        }
    }
}
