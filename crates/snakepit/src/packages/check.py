# Checks requirements (PEP 508 strings, argv[1] as a JSON list) against this interpreter's
# installed distributions; prints one JSON list. Run by snakepit's package API.
import json
import re
import sys

try:
    from importlib import metadata
except ImportError:  # pragma: no cover - Python < 3.8 is refused earlier
    metadata = None

try:
    from packaging.requirements import Requirement
except ImportError:
    try:
        from pip._vendor.packaging.requirements import Requirement
    except ImportError:
        Requirement = None

report = []
for text in json.loads(sys.argv[1]):
    entry = {"requirement": text, "name": text, "installed": None, "satisfied": False}
    report.append(entry)
    if Requirement is None:
        # A venv made by uv has no pip; a bare name can still be checked without packaging.
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", text.strip()):
            entry["error"] = "reading version specifiers needs `packaging` (or pip) installed here"
            continue
        entry["name"] = text.strip()
        try:
            entry["installed"] = metadata.version(entry["name"])
            entry["satisfied"] = True
        except metadata.PackageNotFoundError:
            entry["reason"] = "not installed"
        continue
    try:
        requirement = Requirement(text)
    except Exception as exc:
        entry["error"] = "not a valid requirement: %s" % exc
        continue
    entry["name"] = requirement.name
    if requirement.marker is not None and not requirement.marker.evaluate():
        entry["satisfied"] = True
        entry["reason"] = "not needed here (marker %s)" % requirement.marker
        continue
    try:
        version = metadata.version(requirement.name)
    except metadata.PackageNotFoundError:
        entry["reason"] = "not installed"
        continue
    entry["installed"] = version
    if requirement.specifier and not requirement.specifier.contains(version, prereleases=True):
        entry["reason"] = "%s is installed, %s is wanted" % (version, requirement.specifier)
        continue
    entry["satisfied"] = True
print(json.dumps(report))
