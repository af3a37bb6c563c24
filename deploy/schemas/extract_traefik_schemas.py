"""Write the openAPIV3Schema of every Traefik CRD version as a JSON schema file.

Usage: python deploy/schemas/extract_traefik_schemas.py CRDS.yml deploy/schemas/traefik

CRDS.yml is Traefik's
`docs/content/reference/dynamic-configuration/kubernetes-crd-definition-v1.yml`
at the release tag named in deploy/schemas/traefik/SOURCE.md. Each file is named
`<kind>-<group>-<version>.json` and holds the schema as Traefik publishes it, unchanged.
"""

import json
import sys
from pathlib import Path

import yaml


def main(crds: Path, out: Path) -> int:
    out.mkdir(parents=True, exist_ok=True)
    for document in yaml.safe_load_all(crds.read_text()):
        if not document or document.get("kind") != "CustomResourceDefinition":
            continue
        spec = document["spec"]
        kind, group = spec["names"]["kind"], spec["group"]
        for version in spec["versions"]:
            schema = version["schema"]["openAPIV3Schema"]
            name = f"{kind.lower()}-{group}-{version['name']}.json"
            (out / name).write_text(json.dumps(schema, indent=1, sort_keys=True) + "\n")
            sys.stdout.write(f"{name}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(Path(sys.argv[1]), Path(sys.argv[2])))
