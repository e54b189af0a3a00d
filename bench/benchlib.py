"""Shared pieces of the benchmark scripts: running shardlm under mpirun, describing the machine, and
rewriting one marked section of docs/benchmarks.md."""
import datetime
import functools
import json
import os
import platform
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "build", "bin")


def shardlm_json(ranks, args):
    """Runs `shardlm ARGS` as an MPI job of `ranks` ranks and returns its JSON on stdout."""
    command = [os.path.join(ROOT, "launch", "shardlm-run"), "-np", str(ranks)] + [str(a) for a in args]
    return json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)


def shardlm_output_json(ranks, args, path):
    """Runs a shardlm command that writes JSON to `path` (its --output) and returns it."""
    command = [os.path.join(ROOT, "launch", "shardlm-run"), "-np", str(ranks)] + [str(a) for a in args]
    subprocess.run(command, check=True, capture_output=True, text=True)
    with open(path) as f:
        return json.load(f)


def cpu_name():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor()


@functools.cache
def measurement_facts():
    """The date, commit and machine of a measurement made now."""
    # The device machine receives the tree without .git: SHARDLM_COMMIT names the commit there.
    commit = os.environ.get("SHARDLM_COMMIT") or subprocess.run(
        ["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    command = "python3 " + " ".join([os.path.relpath(os.path.abspath(sys.argv[0]), ROOT)] + sys.argv[1:])
    return {"date": str(datetime.date.today()), "commit": commit, "cpu": cpu_name(), "cores": os.cpu_count(),
            "command": command}


def provenance(facts=None):
    """One sentence naming the date, commit and machine of a measurement (by default, one made now)."""
    facts = facts or measurement_facts()
    return f"Measured {facts['date']} at commit `{facts['commit']}` on {facts['cpu']}, {facts['cores']} cores."


def replace_section(name, body):
    """Replaces the text between <!-- NAME:begin --> and <!-- NAME:end --> in docs/benchmarks.md."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    path = os.path.join(ROOT, "docs", "benchmarks.md")
    with open(path) as f:
        text = f.read()
    start, stop = text.index(begin) + len(begin), text.index(end)
    with open(path, "w") as f:
        f.write(text[:start] + "\n" + body + "\n" + text[stop:])


def publish(lines, section, update_docs, commands=None):
    """Ends a report with the commands that made it (by default, this one), prints it and, unless told
    not to, writes it into its section of docs/benchmarks.md."""
    commands = commands or [measurement_facts()["command"]]
    label = "Command" if len(commands) == 1 else "Commands"
    text = "\n".join(lines + ["", f"{label}: " + "; ".join(f"`{c}`" for c in commands)])
    print(text)
    if update_docs:
        replace_section(section, text)
