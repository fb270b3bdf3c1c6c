using System;
using System.Collections.Generic;
using System.Linq;

namespace Spmt
{
    /// <summary>Session settings, named as Register-SPMTMigration's parameters (plus WorkingFolder,
    /// the sign-in settings, LocalTargetRoot, PerItemEvents). Unset (null) values take the engine's
    /// defaults, which are SPMT's.</summary>
    public sealed class MigrationSettings
    {
        /// <summary>The session's folder (state, logs, reports). Default: a per-user data folder.</summary>
        public string WorkingFolder { get; set; }
        /// <summary>A ready-made OAuth bearer token for the target site (instead of signing in).</summary>
        public string AccessToken { get; set; }
        /// <summary>Application (client) ID of the Entra app registration to sign in with.</summary>
        public string ClientId { get; set; }
        /// <summary>Tenant id or domain (default: the one the target site names).</summary>
        public string TenantId { get; set; }
        /// <summary>auto, certificate, browser, device-code, password or token.</summary>
        public string AuthMethod { get; set; }
        /// <summary>Account for password sign-in (SPOCredential's user name).</summary>
        public string Username { get; set; }
        /// <summary>Password for password sign-in (SPOCredential's password). Never shown.</summary>
        public string Password { get; set; }
        /// <summary>Certificate (PEM with its key, or PFX) for app-only sign-in.</summary>
        public string CertificatePath { get; set; }
        /// <summary>The PFX's password. Never shown.</summary>
        public string CertificatePassword { get; set; }
        public string CertificateThumbprint { get; set; }
        /// <summary>The sign-in service's host (government clouds, the local target's).</summary>
        public string AuthorityHost { get; set; }
        /// <summary>Where the embedded local target ('local' as the target site) keeps its data.</summary>
        public string LocalTargetRoot { get; set; }
        public bool? ScanOnly { get; set; }
        public bool? IncludeHiddenFiles { get; set; }
        public DateTime? MigrateFilesCreatedAfter { get; set; }
        public DateTime? MigrateFilesModifiedAfter { get; set; }
        /// <summary>Extensions without the dot, e.g. "tmp", "bak".</summary>
        public IList<string> SkipFilesWithExtension { get; set; }
        public string ReplacementOfInvalidChar { get; set; }
        public bool? MigrateWithoutRootFolder { get; set; }
        /// <summary>Per-item events (item path, outcome, code) besides progress.</summary>
        public bool? PerItemEvents { get; set; }
        /// <summary>Later rounds compare file content (MD5) too, not only size and modified time.</summary>
        public bool? CheckContent { get; set; }
        /// <summary>Later rounds move what the source no longer has to the target's recycle bin.</summary>
        public bool? PropagateDeletes { get; set; }
        /// <summary>Follow symbolic links (loops are detected and reported).</summary>
        public bool? FollowSymlinks { get; set; }

        /// <summary>Any other setting by its SPMT name (Register-SPMTMigration's parameters, the JSON
        /// task Settings keys), passed to the engine as given: the engine decides what it means,
        /// what is deprecated and what is not supported yet (SpmtException.Key/Feature/Hint).</summary>
        public IDictionary<string, object> Extra { get; set; }

        /// <summary>The engine's settings JSON (only the values that were set).</summary>
        public string ToJson()
        {
            var o = new Dictionary<string, object>();
            if (WorkingFolder != null) o["WorkingFolder"] = WorkingFolder;
            if (AccessToken != null) o["AccessToken"] = AccessToken;
            if (ClientId != null) o["ClientId"] = ClientId;
            if (TenantId != null) o["TenantId"] = TenantId;
            if (AuthMethod != null) o["AuthMethod"] = AuthMethod;
            if (Username != null) o["Username"] = Username;
            if (Password != null) o["Password"] = Password;
            if (CertificatePath != null) o["CertificatePath"] = CertificatePath;
            if (CertificatePassword != null) o["CertificatePassword"] = CertificatePassword;
            if (CertificateThumbprint != null) o["CertificateThumbprint"] = CertificateThumbprint;
            if (AuthorityHost != null) o["AuthorityHost"] = AuthorityHost;
            if (LocalTargetRoot != null) o["LocalTargetRoot"] = LocalTargetRoot;
            if (ScanOnly.HasValue) o["ScanOnly"] = ScanOnly.Value;
            if (IncludeHiddenFiles.HasValue) o["IncludeHiddenFiles"] = IncludeHiddenFiles.Value;
            if (MigrateFilesCreatedAfter.HasValue) o["MigrateFilesCreatedAfter"] = MigrateFilesCreatedAfter.Value;
            if (MigrateFilesModifiedAfter.HasValue) o["MigrateFilesModifiedAfter"] = MigrateFilesModifiedAfter.Value;
            if (SkipFilesWithExtension != null) o["SkipFilesWithExtension"] = SplitExtensions(SkipFilesWithExtension);
            if (ReplacementOfInvalidChar != null) o["ReplacementOfInvalidChar"] = ReplacementOfInvalidChar;
            if (MigrateWithoutRootFolder.HasValue) o["MigrateWithoutRootFolder"] = MigrateWithoutRootFolder.Value;
            if (PerItemEvents.HasValue) o["PerItemEvents"] = PerItemEvents.Value;
            if (CheckContent.HasValue) o["CheckContent"] = CheckContent.Value;
            if (PropagateDeletes.HasValue) o["PropagateDeletes"] = PropagateDeletes.Value;
            if (FollowSymlinks.HasValue) o["FollowSymlinks"] = FollowSymlinks.Value;
            if (Extra != null)
                foreach (var kv in Extra)
                    if (!o.ContainsKey(kv.Key)) o[kv.Key] = kv.Value;
            return Json.Serialize(o);
        }

        /// <summary>SPMT writes "tmp:bak" (one string), PowerShell gives a list; either way, one
        /// extension per entry, without dots.</summary>
        public static List<string> SplitExtensions(IEnumerable<string> values)
        {
            return values.Where(v => v != null)
                .SelectMany(v => v.Split(new[] { ':', ';', ',' }, StringSplitOptions.RemoveEmptyEntries))
                .Select(v => v.Trim().TrimStart('.'))
                .Where(v => v.Length > 0)
                .ToList();
        }

        /// <summary>A copy without the secrets (AccessToken, Password, CertificatePassword show as
        /// REDACTED), for display.</summary>
        public MigrationSettings Redacted()
        {
            var c = (MigrationSettings)MemberwiseClone();
            if (c.AccessToken != null) c.AccessToken = "REDACTED";
            if (c.Password != null) c.Password = "REDACTED";
            if (c.CertificatePassword != null) c.CertificatePassword = "REDACTED";
            if (c.SkipFilesWithExtension != null) c.SkipFilesWithExtension = new List<string>(c.SkipFilesWithExtension);
            if (c.Extra != null)
            {
                var extra = new Dictionary<string, object>(StringComparer.OrdinalIgnoreCase);
                foreach (var kv in c.Extra)
                    extra[kv.Key] = kv.Value != null && IsSecretName(kv.Key) ? "REDACTED" : kv.Value;
                c.Extra = extra;
            }
            return c;
        }

        /// <summary>Names of settings whose values are secrets (CustomAzureAccessKey and the like).</summary>
        static bool IsSecretName(string name)
        {
            var n = name.ToLowerInvariant();
            return n.Contains("key") || n.Contains("token") || n.Contains("password") || n.Contains("secret") || n.Contains("credential");
        }

        public override string ToString()
        {
            return Redacted().ToJson();
        }
    }
}
