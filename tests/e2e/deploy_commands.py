"""Extract the healthprobe commands from the deployment examples.

  deploy_commands.py FILE...
  deploy_commands.py --copy-sources DOCKERFILE CONTEXT_DIR
      fail when a COPY in DOCKERFILE names a file the context lacks

For each healthprobe command in Dockerfile.example (HEALTHCHECK ... CMD [...]),
examples/kubernetes.yaml (exec probes) and examples/compose.yaml (healthcheck
test), print one tab-separated line:

  LABEL  ARGV_JSON  OUTER_TIMEOUT_SECONDS  PROBE_TIMEOUT_SECONDS

OUTER is the timeout the orchestrator enforces on the command (Docker's
--timeout, Kubernetes' timeoutSeconds, Compose's timeout); PROBE is the
probe's own --timeout/-t. Fails when a file holds no healthprobe command, or a
command is not in exec form, so a broken example cannot pass by vanishing.
"""
import json
import os
import re
import shlex
import sys

import yaml

UNITS = {"ms": 0.001, "s": 1, None: 1, "m": 60, "h": 3600}


def seconds(text):
    """Docker/Compose durations (30s, 1m30s, 500ms) and healthprobe's (2s, 250ms, 1.5)."""
    total, rest = 0.0, str(text).strip()
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)?", rest):
        total += float(number) * UNITS[unit or None]
    if not re.fullmatch(r"((\d+(?:\.\d+)?)(ms|s|m|h)?)+", rest):
        sys.exit(f"deploy_commands: cannot read the duration {text!r}")
    return total


def probe_timeout(argv):
    for i, arg in enumerate(argv):
        if arg in ("-t", "--timeout") and i + 1 < len(argv):
            return seconds(argv[i + 1])
        if arg.startswith("--timeout="):
            return seconds(arg.split("=", 1)[1])
    return seconds(os.environ.get("HEALTHPROBE_TIMEOUT", "2s"))


def is_healthprobe(argv):
    return bool(argv) and os.path.basename(argv[0]) == "healthprobe"


def dockerfile(path):
    text = open(path).read()
    # Join continuation lines, drop comments, then read instruction by instruction.
    lines = [l for l in text.splitlines() if not l.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    stage = "?"
    for line in joined.splitlines():
        words = line.split(None, 1)
        if not words:
            continue
        if words[0].upper() == "FROM":
            parts = line.split()
            stage = parts[3] if len(parts) > 3 and parts[2].upper() == "AS" else parts[1]
        if words[0].upper() != "HEALTHCHECK":
            continue
        options, sep, command = (" " + words[1]).partition(" CMD ")
        if not sep:
            sys.exit(f"deploy_commands: {path}: HEALTHCHECK without CMD: {line.strip()}")
        try:
            argv = json.loads(command)
        except json.JSONDecodeError:
            sys.exit(f"deploy_commands: {path}: HEALTHCHECK not in exec (JSON) form: {command.strip()}")
        timeout = 30.0  # Docker's default
        for option in shlex.split(options):
            if option.startswith("--timeout="):
                timeout = seconds(option.split("=", 1)[1])
        yield f"Dockerfile.example stage {stage} HEALTHCHECK", argv, timeout


def kubernetes(path):
    for doc in yaml.safe_load_all(open(path)):
        if not doc or doc.get("kind") not in ("Deployment", "StatefulSet", "DaemonSet", "Pod"):
            continue
        spec = doc["spec"] if doc["kind"] == "Pod" else doc["spec"]["template"]["spec"]
        for container in spec.get("containers", []):
            for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
                probe = container.get(kind)
                if probe and "exec" in probe:
                    label = f"kubernetes.yaml {doc['metadata']['name']}/{container['name']} {kind}"
                    yield label, probe["exec"]["command"], float(probe.get("timeoutSeconds", 1))


def compose(path):
    doc = yaml.safe_load(open(path))
    for name, service in doc.get("services", {}).items():
        check = service.get("healthcheck")
        if not check:
            continue
        test = check["test"]
        if isinstance(test, str) or test[0] == "CMD-SHELL":
            argv = ["CMD-SHELL"]
        elif test[0] == "CMD":
            argv = test[1:]
        else:
            argv = test
        timeout = seconds(check.get("timeout", "30s"))
        yield f"compose.yaml service {name} healthcheck", argv, timeout


def copy_sources(dockerfile_path, context):
    """COPY sources (not --from a stage) that are missing from the build context."""
    text = re.sub(r"\\\n", " ", open(dockerfile_path).read())
    missing = []
    for line in text.splitlines():
        words = line.split()
        if not words or words[0].upper() not in ("COPY", "ADD"):
            continue
        args = [w for w in words[1:] if not w.startswith("--")]
        if any(w.startswith("--from=") for w in words[1:]):
            continue
        for source in args[:-1]:
            # The build's own platform: dist/healthprobe-linux-amd64 here.
            source = source.replace("${TARGETARCH}", "amd64")
            if not os.path.exists(os.path.join(context, source)):
                missing.append(source)
    return missing


def main():
    if sys.argv[1] == "--copy-sources":
        missing = copy_sources(sys.argv[2], sys.argv[3])
        if missing:
            sys.exit(f"deploy_commands: {sys.argv[2]}: COPY sources missing from {sys.argv[3]}: {' '.join(missing)}")
        return
    for path in sys.argv[1:]:
        name = os.path.basename(path)
        if name.startswith("Dockerfile"):
            found = list(dockerfile(path))
        elif "compose" in name:
            found = list(compose(path))
        else:
            found = list(kubernetes(path))
        ours = [(label, argv, outer) for label, argv, outer in found if is_healthprobe(argv)]
        for label, argv, _ in found:
            if argv and argv[0] == "CMD-SHELL":
                sys.exit(f"deploy_commands: {path}: {label} uses a shell form")
        if not ours:
            sys.exit(f"deploy_commands: {path}: no healthprobe command found")
        for label, argv, outer in ours:
            print("\t".join([label, json.dumps(argv), f"{outer:g}", f"{probe_timeout(argv):g}"]))


if __name__ == "__main__":
    main()
