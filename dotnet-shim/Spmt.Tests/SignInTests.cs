// Sign-in through the shim against a real site: `spmt emulator` (SPMT_BIN) as a separate process,
// its Entra sign-in service issuing the tokens its SharePoint side checks.
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Net;
using Spmt;
using Spmt.PowerShell;

static partial class Program
{
    const string LocalClientId = "8d1f6a53-2b7c-4e0a-9c3d-5e6f7a8b9c0d";
    const string AppOnlyClientId = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";
    const string LocalAdmin = "admin@local.onmicrosoft.com";
    const string LocalAdminPassword = "local-admin-password";

    /// <summary>`spmt emulator` on a free loopback port, stopped on Dispose.</summary>
    sealed class LocalSite : IDisposable
    {
        readonly Process process;
        public readonly string BaseUrl, Root;

        public LocalSite(string dir, string entraJson)
        {
            var bin = Environment.GetEnvironmentVariable("SPMT_BIN");
            if (string.IsNullOrEmpty(bin) || !File.Exists(bin))
                throw new Exception("SPMT_BIN must name the spmt binary (dotnet-shim/test.sh sets it)");
            Root = Path.Combine(dir, "site");
            var entra = Path.Combine(dir, "entra.json");
            File.WriteAllText(entra, entraJson);
            var psi = new ProcessStartInfo(bin, "emulator --listen 127.0.0.1:0 --root \"" + Root + "\" --entra \"" + entra + "\"")
            {
                UseShellExecute = false,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            process = Process.Start(psi);
            process.ErrorDataReceived += (o, e) => { };
            process.BeginErrorReadLine();
            var first = process.StandardOutput.ReadLine() ?? "";
            const string marker = "listening on ";
            var at = first.IndexOf(marker, StringComparison.Ordinal);
            if (at < 0) throw new Exception("spmt emulator did not start: " + first);
            BaseUrl = first.Substring(at + marker.Length).Trim();
            // The rest of stdout is drained so the emulator never blocks on a full pipe.
            var stdout = process.StandardOutput;
            new System.Threading.Thread(() => { try { stdout.ReadToEnd(); } catch (Exception) { } }) { IsBackground = true }.Start();
        }

        public string Site { get { return BaseUrl + "/sites/local"; } }

        public string Library { get { return Path.Combine(Root, "sites", "local", "Documents"); } }

        public void Dispose()
        {
            try { if (!process.HasExited) process.Kill(); process.WaitForExit(10000); } catch (Exception) { }
            process.Dispose();
        }
    }

    static string EntraJson(string certificate)
    {
        return Json.Serialize(new Dictionary<string, object>
        {
            { "apps", new List<object>
                {
                    new Dictionary<string, object> { { "client_id", LocalClientId }, { "public_client", true }, { "redirect_uris", new List<object> { "http://localhost" } } },
                    new Dictionary<string, object> { { "client_id", AppOnlyClientId }, { "public_client", false }, { "certificates", new List<object> { certificate } } },
                }
            },
        });
    }

    /// <summary>Runs one task of <paramref name="src"/> into the site with these settings.</summary>
    static MigrationTaskStatus MigrateWith(MigrationSettings settings, string src, LocalSite site, List<MigrationEvent> events)
    {
        using (var s = new MigrationSession(settings))
        {
            s.AddFileShareTask(src, site.Site, "Documents");
            s.EventReceived += (o, e) => events.Add(e.Event);
            s.Start();
            Assert(s.WaitForCompletion(180000), "the run finishes");
            return s.GetStatus().StatusOfTasks.Single();
        }
    }

    static void T_sign_in_through_the_shim_with_a_credential_and_with_a_certificate()
    {
        var dir = TempDir("signin");
        var cert = Environment.GetEnvironmentVariable("SPMT_TEST_CERT");
        var certAndKey = Environment.GetEnvironmentVariable("SPMT_TEST_CERT_AND_KEY");
        Assert(File.Exists(cert) && File.Exists(certAndKey), "SPMT_TEST_CERT and SPMT_TEST_CERT_AND_KEY (dotnet-shim/test.sh makes them)");
        using (var site = new LocalSite(dir, EntraJson(cert)))
        {
            var src = TempDir("signin-share");
            var files = MakeShare(src, 6);

            // Register-SPMTMigration -SPOCredential $cred: the PSCredential reaches the plain
            // classes as a NetworkCredential; password sign-in with the app registration.
            var bound = P("SPOCredential", new NetworkCredential(LocalAdmin, LocalAdminPassword), "ClientId", LocalClientId,
                "WorkingFolder", Path.Combine(dir, "w1"));
            var settings = RegisterParameters.ToSettings(bound);
            Assert(!settings.ToString().Contains(LocalAdminPassword), "the password never shows: " + settings);
            Eq("password", settings.AuthMethod, "-SPOCredential means password sign-in");
            var events = new List<MigrationEvent>();
            var t = MigrateWith(settings, src, site, events);
            Eq("COMPLETED", t.Status, "password sign-in: " + t.ErrorMsg);
            Eq((long)files.Count, t.NumActuallyMigratedFiles, "every file");
            Assert(events.All(e => e.Message == null || !e.Message.Contains(LocalAdminPassword)), "no event shows the password");

            // App-only with the certificate (PEM with its key).
            settings = new MigrationSettings
            {
                WorkingFolder = Path.Combine(dir, "w2"),
                ClientId = AppOnlyClientId,
                CertificatePath = certAndKey,
                AuthMethod = "certificate",
            };
            File.WriteAllText(Path.Combine(src, "app-only.txt"), "app-only");
            t = MigrateWith(settings, src, site, new List<MigrationEvent>());
            Eq("COMPLETED", t.Status, "certificate sign-in: " + t.ErrorMsg);
            Eq(1, Directory.GetFiles(site.Library, "app-only.txt", SearchOption.AllDirectories).Length, "the app-only run's file arrived");

            // A wrong password: the task fails with the fix, nothing of it is migrated.
            bound = P("SPOCredential", new NetworkCredential(LocalAdmin, "Not-The-Password"), "ClientId", LocalClientId,
                "WorkingFolder", Path.Combine(dir, "w3"));
            File.WriteAllText(Path.Combine(src, "never.txt"), "never");
            t = MigrateWith(RegisterParameters.ToSettings(bound), src, site, new List<MigrationEvent>());
            Eq("FAILED", t.Status, "wrong password");
            Assert(t.ErrorMsg.Contains("wrong username or password") && !t.ErrorMsg.Contains("Not-The-Password"), t.ErrorMsg);
            Eq(0, Directory.GetFiles(site.Library, "never.txt", SearchOption.AllDirectories).Length, "nothing sent without a sign-in");

            // A certificate file without its key (the .cer an admin uploads): named, with the fix.
            settings = new MigrationSettings { WorkingFolder = Path.Combine(dir, "w4"), ClientId = AppOnlyClientId, CertificatePath = cert, AuthMethod = "certificate" };
            t = MigrateWith(settings, src, site, new List<MigrationEvent>());
            Eq("FAILED", t.Status, "no private key");
            Assert(t.ErrorMsg.Contains("not its private key"), t.ErrorMsg);
        }
    }
}
