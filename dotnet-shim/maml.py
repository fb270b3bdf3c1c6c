#!/usr/bin/env python3
"""Writes the module's MAML help (en-US/Spmt.PowerShell.dll-Help.xml) from two committed files:
powershell/help/cmdlets.json (what people read: synopsis, description, each parameter, examples,
outputs) and powershell/help/surface.json (the compiled parameter surface, which
powershell/tests/Help.Tests.ps1 keeps equal to the module). Get-Help reads the result.

    python3 dotnet-shim/maml.py OUT.xml
"""
import json
import sys
from pathlib import Path
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parent.parent
HELP_URI = "https://github.com/spmt-project/spmt#powershell-spmts-cmdlets-module-spmtpowershell"
ALL_SETS = "__AllParameterSets"


def para(text):
    return "".join(f"<maml:para>{escape(p)}</maml:para>" for p in text.split("\n") if p.strip()) or "<maml:para />"


def short_type(full):
    return full.split(".")[-1]


def parameter(name, info, sets_info, description, set_name=None):
    s = sets_info.get(set_name) if set_name else next(iter(sets_info.values()))
    required = "true" if s and s["Mandatory"] else "false"
    position = str(s["Position"]) if s and s["Position"] is not None else "named"
    pipeline = "True (ByPropertyName)" if s and s["PipelineByPropertyName"] else "False"
    aliases = ", ".join(info["Aliases"]) or "none"
    is_switch = info["Type"] == "System.Management.Automation.SwitchParameter"
    value = "" if is_switch else f'<command:parameterValue required="true" variableLength="false">{escape(short_type(info["Type"]))}</command:parameterValue>'
    return (
        f'<command:parameter required="{required}" variableLength="true" globbing="false" '
        f'pipelineInput="{pipeline}" position="{position}" aliases="{escape(aliases)}">'
        f"<maml:name>{escape(name)}</maml:name>"
        f"<maml:description>{para(description)}</maml:description>"
        f"{value}"
        f'<dev:type><maml:name>{escape(info["Type"])}</maml:name><maml:uri /></dev:type>'
        f"<dev:defaultValue>None</dev:defaultValue>"
        f"</command:parameter>"
    )


def command(name, text, surface):
    verb, noun = name.split("-", 1)
    params = surface["Parameters"]
    missing = sorted(set(params) - set(text["Parameters"]))
    extra = sorted(set(text["Parameters"]) - set(params))
    if missing or extra:
        sys.exit(f"maml.py: {name}: parameters without help {missing}, help for unknown parameters {extra}")
    sets = sorted({s for p in params.values() for s in p["Sets"] if s != ALL_SETS})
    if not sets:
        sets = [None]
    default = surface["DefaultParameterSet"]
    if default in sets:
        sets.remove(default)
        sets.insert(0, default)
    syntax = []
    for set_name in sets:
        members = [
            (p, info)
            for p, info in params.items()
            if set_name is None or set_name in info["Sets"] or ALL_SETS in info["Sets"]
        ]
        items = "".join(
            parameter(p, info, info["Sets"], text["Parameters"][p], set_name if set_name in info["Sets"] else ALL_SETS)
            for p, info in members
        )
        syntax.append(f"<command:syntaxItem><maml:name>{name}</maml:name>{items}</command:syntaxItem>")
    parameters = "".join(
        parameter(p, info, info["Sets"], text["Parameters"][p]) for p, info in params.items()
    )
    examples = "".join(
        f"<command:example><maml:title>-------------------------- Example {i}: {escape(e['Title'])} --------------------------</maml:title>"
        f"<dev:code>{escape(e['Code'])}</dev:code>"
        f"<dev:remarks>{para(e.get('Remarks', ''))}</dev:remarks></command:example>"
        for i, e in enumerate(text["Examples"], 1)
    )
    inputs = "None" if not any(
        s["PipelineByPropertyName"] for p in params.values() for s in p["Sets"].values()
    ) else "Objects with properties named as the parameters or their aliases (Import-Csv rows)"
    description = "".join(para(d) for d in text["Description"])
    return (
        '<command:command xmlns:maml="http://schemas.microsoft.com/maml/2004/10" '
        'xmlns:command="http://schemas.microsoft.com/maml/dev/command/2004/10" '
        'xmlns:dev="http://schemas.microsoft.com/maml/dev/2004/10" '
        'xmlns:MSHelp="http://msdn.microsoft.com/mshelp">'
        f"<command:details><command:name>{name}</command:name><command:verb>{verb}</command:verb>"
        f"<command:noun>{noun}</command:noun><maml:description>{para(text['Synopsis'])}</maml:description></command:details>"
        f"<maml:description>{description}</maml:description>"
        f"<command:syntax>{''.join(syntax)}</command:syntax>"
        f"<command:parameters>{parameters}</command:parameters>"
        f"<command:inputTypes><command:inputType><dev:type><maml:name>{escape(inputs)}</maml:name></dev:type>"
        "<maml:description><maml:para /></maml:description></command:inputType></command:inputTypes>"
        f"<command:returnValues><command:returnValue><dev:type><maml:name>{escape(text['Outputs'])}</maml:name></dev:type>"
        "<maml:description><maml:para /></maml:description></command:returnValue></command:returnValues>"
        "<maml:alertSet><maml:alert><maml:para>spmt's Spmt.PowerShell module follows Microsoft's SharePoint Migration Tool cmdlets; "
        "see about_Spmt.PowerShell for what it does differently.</maml:para></maml:alert></maml:alertSet>"
        f"<command:examples>{examples}</command:examples>"
        f"<command:relatedLinks><maml:navigationLink><maml:linkText>Online version:</maml:linkText><maml:uri>{HELP_URI}</maml:uri></maml:navigationLink>"
        "<maml:navigationLink><maml:linkText>about_Spmt.PowerShell</maml:linkText><maml:uri /></maml:navigationLink></command:relatedLinks>"
        "</command:command>"
    )


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    text = json.loads((ROOT / "powershell/help/cmdlets.json").read_text(encoding="utf-8"))
    surface = json.loads((ROOT / "powershell/help/surface.json").read_text(encoding="utf-8"))
    if set(text) != set(surface):
        sys.exit(f"maml.py: cmdlets with help {sorted(text)} differ from the compiled ones {sorted(surface)}")
    body = "".join(command(n, text[n], surface[n]) for n in sorted(surface))
    out = Path(sys.argv[1])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        '<?xml version="1.0" encoding="utf-8"?>\n<helpItems schema="maml" xmlns="http://msh">' + body + "</helpItems>\n",
        encoding="utf-8",
    )


if __name__ == "__main__":
    main()
