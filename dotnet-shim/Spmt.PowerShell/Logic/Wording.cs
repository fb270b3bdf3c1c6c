// The engine's messages name the CLI's flags (the engine serves the CLI too). In the cmdlets a
// message names the PowerShell parameter instead: this table rewrites what the cmdlets show
// (error details, warnings); the exception keeps the engine's text.
using System;
using System.Collections.Generic;
using System.Linq;

namespace Spmt.PowerShell
{
    public static class Wording
    {
        // Longest first, so "--target-list-relative-path" is not read as "--target-list".
        static readonly KeyValuePair<string, string>[] Flags = new Dictionary<string, string>
        {
            { "--auth device-code", "-DeviceLogin" },
            { "--auth browser", "-Interactive" },
            { "--auth certificate", "-CertificatePath" },
            { "--auth password", "-SPOCredential" },
            { "--target-list-relative-path", "-TargetListRelativePath" },
            { "--target-list", "-TargetList" },
            { "--target-site-url", "-TargetSiteUrl" },
            { "--file-share-source", "-FileShareSource" },
            { "--working-folder", "-WorkingFolder" },
            { "--local-target-root", "-LocalTargetRoot" },
            { "--replace-invalid-char", "-ReplacementOfInvalidChar" },
            { "--access-token", "-AccessToken" },
            { "--client-id", "-ClientId" },
            { "--tenant", "-TenantId" },
            { "--authority-host", "-AuthorityHost" },
            { "--certificate-path", "-CertificatePath" },
            { "--certificate-thumbprint", "-CertificateThumbprint" },
            { "--check-content", "-CheckContent" },
            { "--propagate-deletes", "-PropagateDeletes" },
            { "--follow-symlinks", "-FollowSymlinks" },
        }.OrderByDescending(kv => kv.Key.Length).ToArray();

        /// <summary><paramref name="text"/> with each CLI flag named as the cmdlets' parameter.</summary>
        public static string ForCmdlets(string text)
        {
            if (string.IsNullOrEmpty(text) || text.IndexOf("--", StringComparison.Ordinal) < 0) return text;
            foreach (var kv in Flags)
                text = text.Replace(kv.Key, kv.Value);
            return text;
        }
    }
}
