// Tab completion for the parameters whose values come from a fixed list (SPMT's enumerations,
// the Boolean settings) or from the session (task ids).
using System;
using System.Collections;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Management.Automation.Language;
using Spmt.PowerShell;

namespace Spmt.PowerShell.Commands
{
    /// <summary>Completes from a list of values, matching what was typed so far (any case).</summary>
    public abstract class ValueCompleter : IArgumentCompleter
    {
        protected abstract IEnumerable<string> Values();

        public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
            CommandAst commandAst, IDictionary fakeBoundParameters)
        {
            var typed = (wordToComplete ?? "").Trim('\'', '"');
            IEnumerable<string> values;
            try { values = Values().ToList(); }
            catch (Exception) { values = Enumerable.Empty<string>(); } // completion never throws
            return values
                .Where(v => v.StartsWith(typed, StringComparison.OrdinalIgnoreCase))
                .Select(v => new CompletionResult(v, v, CompletionResultType.ParameterValue, v));
        }
    }

    public sealed class MigrationTypeCompleter : ValueCompleter
    {
        protected override IEnumerable<string> Values() { return new[] { "CONTENT", "WORKFLOW" }; }
    }

    public sealed class DuplicatePageBehaviorCompleter : ValueCompleter
    {
        protected override IEnumerable<string> Values() { return new[] { "RENAME", "OVERWRITE", "SKIP", "NO_PAGES_MIGRATION" }; }
    }

    public sealed class MigrateSiteSettingsCompleter : ValueCompleter
    {
        protected override IEnumerable<string> Values()
        {
            return new[] { "PRESERVE_ALL_SETTINGS", "PRESERVE_ALL_BUT_SKIP_TITLE_LOGO", "ONLY_TITLE_LOGO", "SKIP_ALL_SETTINGS" };
        }
    }

    public sealed class BooleanCompleter : ValueCompleter
    {
        protected override IEnumerable<string> Values() { return new[] { "$true", "$false" }; }
    }

    /// <summary>The ids of the tasks of this runspace's session.</summary>
    public sealed class TaskIdCompleter : ValueCompleter
    {
        protected override IEnumerable<string> Values()
        {
            var s = SessionHost.Current;
            if (s == null) return Enumerable.Empty<string>();
            return s.GetStatus().StatusOfTasks.Select(t => t.TaskId.ToString());
        }
    }
}
