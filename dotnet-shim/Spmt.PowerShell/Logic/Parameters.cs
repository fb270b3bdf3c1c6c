// What the cmdlets' parameters mean to the engine: Register-SPMTMigration's parameters to session
// settings, Add-SPMTTask's parameter sets to SPMT JSON tasks. Plain classes (no PowerShell types)
// so they are tested without PowerShell; the cmdlets hand over their bound parameters as a plain
// dictionary (switches as bool, credentials as the user name).
using System;
using System.Collections;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;

namespace Spmt.PowerShell
{
    /// <summary>SharePoint's LookupReferencePolicy values (SPMT's LookupReferenceScanPolicyEnum).</summary>
    public enum LookupReferenceScanPolicyEnum
    {
        FIND_ALL_REFERENCE = 0,
        SKIP_AND_CONTINUE = 1,
        DO_NOT_MIGRATE = 2,
    }

    internal static class Bound
    {
        /// <summary>PowerShell's common parameters: bound like any other, meaningless here.</summary>
        internal static readonly HashSet<string> Common = new HashSet<string>(StringComparer.OrdinalIgnoreCase)
        {
            "Verbose", "Debug", "ErrorAction", "WarningAction", "InformationAction", "ProgressAction", "ErrorVariable",
            "WarningVariable", "InformationVariable", "OutVariable", "OutBuffer", "PipelineVariable", "WhatIf", "Confirm",
        };

        internal static bool AsBool(object v)
        {
            if (v is bool) return (bool)v;
            if (v == null) return false;
            return Convert.ToBoolean(v, CultureInfo.InvariantCulture);
        }

        internal static string AsString(object v)
        {
            return v == null ? null : Convert.ToString(v, CultureInfo.InvariantCulture);
        }

        /// <summary>True when the value asks for nothing: false, empty, null.</summary>
        internal static bool Inert(object v)
        {
            if (v == null) return true;
            if (v is bool) return !(bool)v;
            var s = v as string;
            if (s != null) return s.Trim().Length == 0;
            var e = v as IEnumerable;
            if (e != null) return !e.Cast<object>().Any(x => !Inert(x));
            return false;
        }

        internal static IEnumerable<string> AsStrings(object v)
        {
            var s = v as string;
            if (s != null) return new[] { s };
            var e = v as IEnumerable;
            if (e != null) return e.Cast<object>().Select(AsString);
            return new[] { AsString(v) };
        }
    }

    /// <summary>Register-SPMTMigration's parameters to the engine's session settings. Only the
    /// conversions PowerShell needs happen here (switches, credentials, dates, lists); what a
    /// setting means, which are deprecated and which are not supported yet is the engine's to
    /// say (one table, in Rust), so the cmdlets and the CLI answer alike.</summary>
    public static class RegisterParameters
    {
        /// <summary>Settings from the bound parameters (common parameters and -Force left out).</summary>
        public static MigrationSettings ToSettings(IDictionary<string, object> bound)
        {
            var s = new MigrationSettings { Extra = new Dictionary<string, object>(StringComparer.OrdinalIgnoreCase) };
            foreach (var kv in bound)
            {
                var v = kv.Value;
                var name = kv.Key;
                if (Bound.Common.Contains(name)) continue;
                switch (name.ToLowerInvariant())
                {
                    case "force": break; // the cmdlet's: stop and unregister the current session
                    case "workingfolder": s.WorkingFolder = Bound.AsString(v); break;
                    case "accesstoken": s.AccessToken = Bound.AsString(v); break;
                    case "spocredential":
                        {
                            // SPMT's -SPOCredential: password sign-in as this account.
                            var c = v as System.Net.NetworkCredential;
                            if (c != null)
                            {
                                s.Username = string.IsNullOrEmpty(c.Domain) ? c.UserName : c.Domain + "\\" + c.UserName;
                                s.Password = c.Password;
                            }
                            else s.Username = Bound.AsString(v);
                            if (s.AuthMethod == null) s.AuthMethod = "password";
                            break;
                        }
                    case "clientid": s.ClientId = Bound.AsString(v); break;
                    case "tenantid": s.TenantId = Bound.AsString(v); break;
                    case "certificatepath":
                        s.CertificatePath = Bound.AsString(v);
                        if (!Bound.Inert(v) && (s.AuthMethod == null || s.AuthMethod == "password")) s.AuthMethod = "certificate";
                        break;
                    case "certificatethumbprint": s.CertificateThumbprint = Bound.AsString(v); break;
                    case "authorityhost": s.AuthorityHost = Bound.AsString(v); break;
                    case "devicelogin": if (Bound.AsBool(v)) s.AuthMethod = "device-code"; break;
                    case "interactive": if (Bound.AsBool(v)) s.AuthMethod = "browser"; break;
                    case "localtargetroot": s.LocalTargetRoot = Bound.AsString(v); break;
                    case "migratefilescreatedafter": s.MigrateFilesCreatedAfter = (DateTime)v; break;
                    case "migratefilesmodifiedafter": s.MigrateFilesModifiedAfter = (DateTime)v; break;
                    case "skipfileswithextension": s.SkipFilesWithExtension = MigrationSettings.SplitExtensions(Bound.AsStrings(v)); break;
                    case "replacementofinvalidchar": s.ReplacementOfInvalidChar = Bound.AsString(v) ?? ""; break;
                    default: s.Extra[name] = v; break;
                }
            }
            return s;
        }
    }

    /// <summary>Add-SPMTTask's parameter sets to SPMT JSON tasks.</summary>
    public static class TaskParameters
    {
        const string Cmdlet = "Add-SPMTTask";
        public const string FileShareSet = "FileShare";
        public const string MigrateAllSet = "SharePointMigrateAll";
        public const string MigrateSelectedSet = "SharePointMigrateSelected";
        public const string JsonSet = "Json";

        /// <summary>One task JSON per task to add (a JsonDefinition with a Tasks list gives one per
        /// entry). Throws FeatureNotSupportedException for SharePoint Server sources and workflow
        /// migration; adds to <paramref name="notes"/> what was not needed.</summary>
        public static IList<string> ToTaskJson(string parameterSet, IDictionary<string, object> bound, ICollection<string> notes)
        {
            switch (parameterSet)
            {
                case FileShareSet:
                    {
                        var t = Json.ParseObject(MigrationSession.FileShareTaskJson(Get(bound, "FileShareSource"), Get(bound, "TargetSiteUrl"),
                            Get(bound, "TargetList"), Get(bound, "TargetListRelativePath")), "task");
                        object mt;
                        if (bound.TryGetValue("MigrationType", out mt) && mt != null) t["MigrationType"] = mt;
                        return new[] { Json.Serialize(t) };
                    }
                case MigrateAllSet:
                case MigrateSelectedSet:
                    {
                        // A library (or a folder of it) on a SharePoint Server site; the farm
                        // account goes with the task to the engine, which keeps it out of the
                        // task's record. -MigrateAll (every library at once) the engine refuses.
                        var t = new Dictionary<string, object>();
                        t["SharePointSourceSiteUrl"] = Get(bound, "SharePointSourceSiteUrl");
                        t["TargetPath"] = Get(bound, "TargetSiteUrl");
                        foreach (var k in new[] { "SourceList", "SourceListRelativePath", "TargetList", "TargetListRelativePath", "MigrationType" })
                        {
                            var v = Get(bound, k);
                            if (!string.IsNullOrEmpty(v)) t[k] = v;
                        }
                        if (parameterSet == MigrateAllSet) t["MigrateAll"] = true;
                        var credential = Credential(bound);
                        if (credential != null) t["SharePointSourceCredential"] = credential;
                        return new[] { Json.Serialize(t) };
                    }
                case JsonSet:
                    return FromJson(Get(bound, "JsonDefinition"), Credential(bound), notes);
                default:
                    throw new ArgumentException(Cmdlet + ": unknown parameter set '" + parameterSet + "'");
            }
        }

        /// <summary>-SharePointSourceCredential as the engine takes it: DOMAIN\user and the
        /// password (the cmdlet's plain parameters carry it as a NetworkCredential).</summary>
        static Dictionary<string, object> Credential(IDictionary<string, object> bound)
        {
            object v;
            var c = bound.TryGetValue("SharePointSourceCredential", out v) ? v as System.Net.NetworkCredential : null;
            if (c == null) return null;
            var user = string.IsNullOrEmpty(c.Domain) ? c.UserName : c.Domain + "\\" + c.UserName;
            return new Dictionary<string, object> { { "UserName", user }, { "Password", c.Password } };
        }

        static string Get(IDictionary<string, object> bound, string key)
        {
            object v;
            return bound.TryGetValue(key, out v) ? Bound.AsString(v) : null;
        }

        /// <summary>SPMT's JSON task (one task, or {"Tasks": [...]}), split into one JSON per task
        /// and passed on as given: the engine says what it cannot migrate yet.</summary>
        public static IList<string> FromJson(string json, Dictionary<string, object> credential, ICollection<string> notes)
        {
            Dictionary<string, object> root;
            try { root = Json.ParseObject(json ?? "", "-JsonDefinition"); }
            catch (FormatException e) { throw new ArgumentException(Cmdlet + " " + e.Message, e); }
            var tasks = new List<Dictionary<string, object>>();
            object list;
            if (root.TryGetValue("Tasks", out list))
            {
                var l = list as List<object>;
                if (l == null || l.Count == 0) throw new ArgumentException(Cmdlet + " -JsonDefinition: Tasks must be a non-empty list of tasks");
                foreach (var t in l)
                {
                    var o = t as Dictionary<string, object>;
                    if (o == null) throw new ArgumentException(Cmdlet + " -JsonDefinition: each entry of Tasks must be an object");
                    tasks.Add(o);
                }
            }
            else tasks.Add(root);

            var result = new List<string>();
            var used = false;
            foreach (var t in tasks)
            {
                // A SharePoint Server task (SourceList names its library) signs in with it.
                if (credential != null && t.Keys.Any(k => string.Equals(k, "SourceList", StringComparison.OrdinalIgnoreCase)))
                {
                    t["SharePointSourceCredential"] = credential;
                    used = true;
                }
                result.Add(Json.Serialize(t));
            }
            if (credential != null && !used)
                notes.Add("-SharePointSourceCredential is not needed for a file-share task and was not used.");
            return result;
        }
    }
}
