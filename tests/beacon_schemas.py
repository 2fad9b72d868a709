"""The official Beacon v2 JSON Schemas (vendored in tests/schemas/beacon-v2, see its
SOURCE.md), with every ``$ref`` resolved offline, as jsonschema validators.

Each vendored file is registered under the URL the schemas use for it
(``https://raw.githubusercontent.com/ga4gh-beacon/beacon-v2/main/<path>``), so relative and
absolute ``$ref``s land on the vendored copies; VRS 1.3 is registered under its w3id URL. A
``$ref`` to a document that is not vendored raises ``referencing.exceptions.Unresolvable``
instead of reaching the network.
"""

import json
from functools import cache
from pathlib import Path

ROOT = Path(__file__).parent / "schemas"
BEACON = ROOT / "beacon-v2"
RAW = "https://raw.githubusercontent.com/ga4gh-beacon/beacon-v2/main/"
VRS_URL = "https://w3id.org/ga4gh/schema/vrs/1.3/vrs.json"
RESPONSES = "framework/json/responses/"
MODEL = "models/json/beacon-v2-default-model/"

#: Response kind → the official schema of the whole document.
DOCUMENTS = {
    "info": RESPONSES + "beaconInfoResponse.json",
    "service_info": RESPONSES + "ga4gh-service-info-1-0-0-schema.json",
    "configuration": RESPONSES + "beaconConfigurationResponse.json",
    "map": RESPONSES + "beaconMapResponse.json",
    "entry_types": RESPONSES + "beaconEntryTypesResponse.json",
    "filtering_terms": RESPONSES + "beaconFilteringTermsResponse.json",
    "collections": RESPONSES + "beaconCollectionsResponse.json",
    "boolean": RESPONSES + "beaconBooleanResponse.json",
    "count": RESPONSES + "beaconCountResponse.json",
    "resultsets": RESPONSES + "beaconResultsetsResponse.json",
    "error": RESPONSES + "beaconErrorResponse.json",
}
#: Entry kind → the default model's schema of one entry (resultSets results, collections).
ENTRIES = {
    "genomicVariant": MODEL + "genomicVariations/defaultSchema.json",
    "dataset": MODEL + "datasets/defaultSchema.json",
}
#: The model's requestParameters of /g_variants (the ``g_variant`` object).
G_VARIANT_PARAMETERS = MODEL + "genomicVariations/requestParameters.json"


@cache
def registry():
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT7, DRAFT202012

    resources = []
    for path in sorted(BEACON.rglob("*.json")):
        doc = json.loads(path.read_text())
        spec = DRAFT7 if "draft-07" in str(doc.get("$schema", "")) else DRAFT202012
        uri = RAW + path.relative_to(BEACON).as_posix()
        resources.append((uri, Resource(contents=doc, specification=spec)))
    # The datasets model refers to "../common/info.json" beside it, a file the model has not
    # had since upstream commit 5c7f5a9 moved "info" to the framework: the one upstream
    # dangling $ref, pointed at the framework's info.json it was moved to.
    info = json.loads((BEACON / "framework/json/common/info.json").read_text())
    resources.append((RAW + MODEL + "common/info.json", Resource(info, DRAFT202012)))
    vrs = json.loads((ROOT / "vrs-1.3" / "vrs.json").read_text())
    resources.append((VRS_URL, Resource(contents=vrs, specification=DRAFT7)))
    return Registry().with_resources(resources).crawl()


@cache
def validator(path: str):
    """A validator for the vendored schema at ``path`` (relative to the repository root of
    beacon-v2, optionally with a ``#/json/pointer`` into it), its ``$ref``s resolved in
    :func:`registry`."""
    import jsonschema

    doc = json.loads((BEACON / path.partition("#")[0]).read_text())
    cls = jsonschema.validators.validator_for(doc, default=jsonschema.Draft202012Validator)
    cls.check_schema(doc)
    # the document is addressed by its raw URL so its relative $refs resolve beside it
    return cls({"$ref": RAW + path}, registry=registry())


def errors(path: str, instance) -> list[str]:
    """Every violation of the schema at ``path`` by ``instance`` (empty: valid), as
    ``"<where>: <message>"`` strings."""
    out = []
    for error in sorted(validator(path).iter_errors(instance), key=lambda e: list(e.path)):
        where = "/".join(str(p) for p in error.absolute_path) or "(document)"
        out.append(f"{where}: {error.message}")
    return out
