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
    /// <summary>A parameter asks for something spmt does not have yet. The cmdlet stops with a
    /// terminating error (category NotImplemented) naming the feature; nothing is ignored.</summary>
    public sealed class FeatureNotSupportedException : Exception
    {
        public string Feature { get; private set; }
        public string Parameter { get; private set; }

        public FeatureNotSupportedException(string cmdlet, string parameter, string feature, string hint)
            : base(cmdlet + " -" + parameter + ": " + feature + " is not supported by spmt yet. " +
                   (hint ?? "Remove the parameter (or give it its 'off' value) to continue."))
        {
            Feature = feature;
            Parameter = parameter;
        }
    }

    /// <summary>SharePoint's LookupReferencePolicy values (SPMT's LookupReferenceScanPolicyEnum).</summary>
    public enum LookupReferenceScanPolicyEnum
    {
        FIND_ALL_REFERENCE = 0,
        SKIP_AND_CONTINUE = 1,
        DO_NOT_MIGRATE = 2,
    }

    public static class Features
    {
        public const string SharePointServer = "migration from SharePoint Server sources";
        public const string UserMapping = "user mapping";
        public const string Workflow = "workflow migration (-MigrationType WORKFLOW)";
        public const string CustomAzureStorage = "custom Azure storage";
        public const string FileSharePermissions = "preserving file share permissions";
        public const string SignIn = "interactive or credential sign-in (-SPOCredential)";
        public const string PauseAfterScan = "pausing between scan and migration";
        public const string Unencrypted = "unencrypted packages";
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

    /// <summary>Register-SPMTMigration's parameters to the engine's session settings.</summary>
    public static class RegisterParameters
    {
        const string Cmdlet = "Register-SPMTMigration";

        /// <summary>Settings from the bound parameters. Throws FeatureNotSupportedException for a
        /// feature spmt lacks, ArgumentException for a bad value; adds to <paramref name="warnings"/>
        /// for deprecated or partly honoured parameters.</summary>
        public static MigrationSettings ToSettings(IDictionary<string, object> bound, ICollection<string> warnings)
        {
            var s = new MigrationSettings();
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
                    case "localtargetroot": s.LocalTargetRoot = Bound.AsString(v); break;
                    case "scanonly": s.ScanOnly = Bound.AsBool(v); break;
                    case "includehiddenfiles": s.IncludeHiddenFiles = Bound.AsBool(v); break;
                    case "migratefilescreatedafter": s.MigrateFilesCreatedAfter = (DateTime)v; break;
                    case "migratefilesmodifiedafter": s.MigrateFilesModifiedAfter = (DateTime)v; break;
                    case "skipfileswithextension": s.SkipFilesWithExtension = MigrationSettings.SplitExtensions(Bound.AsStrings(v)); break;
                    case "replacementofinvalidchar":
                        {
                            var c = Bound.AsString(v) ?? "";
                            if (c.Length > 1)
                                throw new ArgumentException(Cmdlet + " -ReplacementOfInvalidChar: one character expected (e.g. '_'), got '" + c + "'");
                            s.ReplacementOfInvalidChar = c;
                            break;
                        }
                    case "migratewithoutrootfolder": s.MigrateWithoutRootFolder = Bound.AsBool(v); break;

                    // Accepted; nothing to do for a file share (one version a file, no update check).
                    case "migratefileversionhistory":
                    case "keepallversions":
                    case "numberofversiontomigrate":
                    case "ignoreupdate":
                        break;

                    case "enablemultiround":
                        if (Bound.AsBool(v))
                            warnings.Add("-EnableMultiRound: spmt runs one round per Start-SPMTMigration; run Start-SPMTMigration again for the next round (rounds after the first are incremental).");
                        break;

                    case "startmigrationautomaticallywhennoscanissue":
                        if (!Bound.AsBool(v)) throw new FeatureNotSupportedException(Cmdlet, name, Features.PauseAfterScan,
                            "Use -ScanOnly $true to scan without migrating.");
                        break;
                    case "enableencryption":
                        if (!Bound.AsBool(v)) throw new FeatureNotSupportedException(Cmdlet, name, Features.Unencrypted,
                            "spmt always encrypts packages; remove -EnableEncryption $false.");
                        break;
                    case "migrationtype":
                        MigrationType(Cmdlet, v);
                        break;
                    case "spocredential":
                        throw new FeatureNotSupportedException(Cmdlet, name, Features.SignIn,
                            "Pass an OAuth access token for https://<tenant>.sharepoint.com with -AccessToken, or migrate to the 'local' target.");

                    case "usermappingfile":
                    case "automaticusermapping":
                    case "azureactivedirectorylookup":
                        Unless(name, v, Features.UserMapping);
                        break;
                    case "preserveuserpermissionsforfileshare":
                        Unless(name, v, Features.FileSharePermissions);
                        break;
                    case "usecustomazurestorage":
                    case "customazurestorageaccount":
                    case "customazureaccesskey":
                    case "deletetempfileswhenmigrationdone":
                        Unless(name, v, Features.CustomAzureStorage);
                        break;
                    case "defaultflowowneremail":
                    case "handleunspportedworkflowactions":
                        Unless(name, v, Features.Workflow);
                        break;
                    case "migrateallsitefieldsandcontenttypes":
                    case "skipsiteswithname":
                    case "skiplistswithname":
                    case "skipcontenttypeswithname":
                    case "duplicatepagebehavior":
                    case "preserveuserpermissionsforsharepointsource":
                    case "preservepermissioninheritance":
                    case "migratesitesettings":
                    case "skiplistwithaudiencetargetingenabled":
                    case "migratenavigation":
                    case "migratetermgroups":
                    case "lookupreferencepolicy":
                    case "disablenoscriptduringmigration":
                        Unless(name, v is Enum ? (object)true : v, Features.SharePointServer);
                        break;

                    // Deprecated by SPMT but still in scripts: bind, warn, carry on.
                    case "incremental":
                        warnings.Add("-Incremental is deprecated (SPMT replaced it with -EnableMultiRound); in spmt every round after the first is incremental.");
                        break;
                    case "migratefilesandfolderswithinvalidchars":
                        warnings.Add("-MigrateFilesAndFoldersWithInvalidChars is deprecated (SPMT 3.4.120.0); use -ReplacementOfInvalidChar to rename such items instead of failing them.");
                        break;
                    case "migrateonenotefolderasonenotenotebook":
                        warnings.Add("-MigrateOneNoteFolderAsOneNoteNoteBook is deprecated (SPMT 3.4.121.2) and has no effect; spmt migrates OneNote folders as folders of files.");
                        break;
                    default:
                        throw new ArgumentException(Cmdlet + ": unknown parameter -" + name);
                }
            }
            return s;
        }

        static void Unless(string name, object v, string feature)
        {
            if (!Bound.Inert(v)) throw new FeatureNotSupportedException(Cmdlet, name, feature, null);
        }

        internal static void MigrationType(string cmdlet, object v)
        {
            var t = (Bound.AsString(v) ?? "").Trim();
            if (t.Length == 0 || t.Equals("CONTENT", StringComparison.OrdinalIgnoreCase)) return;
            if (t.Equals("WORKFLOW", StringComparison.OrdinalIgnoreCase))
                throw new FeatureNotSupportedException(cmdlet, "MigrationType", Features.Workflow, "Use -MigrationType CONTENT (the default).");
            throw new ArgumentException(cmdlet + " -MigrationType: '" + t + "' is not a migration type; use CONTENT or WORKFLOW");
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
            object v;
            if (bound.TryGetValue("MigrationType", out v)) RegisterParameters.MigrationType(Cmdlet, v);
            switch (parameterSet)
            {
                case FileShareSet:
                    return new[]
                    {
                        MigrationSession.FileShareTaskJson(Get(bound, "FileShareSource"), Get(bound, "TargetSiteUrl"),
                            Get(bound, "TargetList"), Get(bound, "TargetListRelativePath")),
                    };
                case MigrateAllSet:
                case MigrateSelectedSet:
                    throw new FeatureNotSupportedException(Cmdlet, "SharePointSourceSiteUrl", Features.SharePointServer,
                        "spmt migrates file shares for now: use -FileShareSource.");
                case JsonSet:
                    return FromJson(Get(bound, "JsonDefinition"), bound.ContainsKey("SharePointSourceCredential"), notes);
                default:
                    throw new ArgumentException(Cmdlet + ": unknown parameter set '" + parameterSet + "'");
            }
        }

        static string Get(IDictionary<string, object> bound, string key)
        {
            object v;
            return bound.TryGetValue(key, out v) ? Bound.AsString(v) : null;
        }

        /// <summary>SPMT's JSON task (one task, or {"Tasks": [...]}), checked for what spmt cannot
        /// migrate yet and passed on as given.</summary>
        public static IList<string> FromJson(string json, bool credentialGiven, ICollection<string> notes)
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
            foreach (var t in tasks)
            {
                var src = Json.Str(t, "SourcePath") ?? "";
                if (src.StartsWith("http://", StringComparison.OrdinalIgnoreCase) || src.StartsWith("https://", StringComparison.OrdinalIgnoreCase) || t.ContainsKey("Items"))
                    throw new FeatureNotSupportedException(Cmdlet, "JsonDefinition", Features.SharePointServer,
                        "SourcePath '" + src + "' is a SharePoint site; spmt migrates file shares for now.");
                object mt;
                if (t.TryGetValue("MigrationType", out mt)) RegisterParameters.MigrationType(Cmdlet, mt);
                result.Add(Json.Serialize(t));
            }
            if (credentialGiven)
                notes.Add("-SharePointSourceCredential is not needed for a file-share task and was not used.");
            return result;
        }
    }
}
