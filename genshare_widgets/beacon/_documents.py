"""The JSON documents of the Beacon v2 framework, built from a :class:`BeaconRelease`.

Each builder follows one response schema of the Beacon v2 specification
(github.com/ga4gh-beacon/beacon-v2, ``framework/json/responses/``): the informational responses
(``beaconInfoResponse``, ``beaconConfigurationResponse``, ``beaconMapResponse``,
``beaconEntryTypesResponse``, ``beaconFilteringTermsResponse``) carry the informational meta
(``sections/beaconInformationalResponseMeta.json``); query responses
(``beaconBooleanResponse``, ``beaconCountResponse``, ``beaconResultsetsResponse``,
``beaconCollectionsResponse``, ``beaconErrorResponse``) carry ``sections/beaconResponseMeta.json``
with the ``receivedRequestSummary``. Variant records follow the genomicVariations default
schema (``models/json/beacon-v2-default-model/genomicVariations/defaultSchema.json``): a
``LegacyVariation`` and ``frequencyInPopulations``. ``/service-info`` follows GA4GH
service-info 1.0.0. No document holds a sample id, a genotype or any per-person value.
"""

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np

from genshare_widgets._version import __version__
from genshare_widgets.beacon._release import TOTAL, BeaconRelease

API_VERSION = "v2.0.0"
SPEC = "https://raw.githubusercontent.com/ga4gh-beacon/beacon-v2/main"
VARIANT_SCHEMA = "ga4gh-beacon-variant-v2.0.0"
DATASET_SCHEMA = "ga4gh-beacon-dataset-v2.0.0"
SECURITY_LEVELS = ("PUBLIC", "REGISTERED", "CONTROLLED")
_ORDER = {"boolean": 0, "count": 1, "record": 2}
WITHHELD = "withheld"  # one marker for every row not shown, whatever the reason
ROW_RULE = (
    "a group's row (alleleCount, alleleNumber) is shown only when none of its linked counts "
    "(ALT, REF, allele number, het, hom-alt, hom-ref, called) is withheld by the disclosure "
    "policy, else the whole row is 'withheld'; ALL is shown only when every group row is, and "
    "is then their sum; groups below the minimum group size are never served nor counted"
)


@dataclass
class BeaconDescription:
    """Who and what a Beacon serves (static; built once per app)."""

    release: BeaconRelease
    cohort_id: str
    title: str
    description: str
    genome_build: str | None
    version: str
    access: str
    duo: list[str]
    granularity: str
    security: str
    beacon_id: str
    organization: dict[str, str]
    homepage: str | None = None
    catalog_version: str | None = None
    created: str = field(
        default_factory=lambda: datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    )

    # -- meta sections -------------------------------------------------------------------
    def informational_meta(self, entity: str | None = None) -> dict[str, Any]:
        schemas = [] if entity is None else [self._schema(entity)]
        return {"beaconId": self.beacon_id, "apiVersion": API_VERSION, "returnedSchemas": schemas}

    def _schema(self, entity: str) -> dict[str, str]:
        if entity == "dataset":
            return {"entityType": "dataset", "schema": DATASET_SCHEMA}
        return {"entityType": "genomicVariation", "schema": VARIANT_SCHEMA}

    def response_meta(
        self,
        *,
        requested: str,
        returned: str,
        entity: str = "genomicVariation",
        parameters: dict[str, Any] | None = None,
        skip: int = 0,
        limit: int = 10,
        filters: list | None = None,
    ) -> dict[str, Any]:
        summary: dict[str, Any] = {
            "apiVersion": API_VERSION,
            "requestedSchemas": [],
            "pagination": {"skip": skip, "limit": limit},
            "requestedGranularity": requested,
        }
        if parameters:
            # the framework's requestParameters maps each entry type's name to its object:
            # the genomicVariations model calls its parameters "g_variant"
            summary["requestParameters"] = {"g_variant": parameters}
        if filters:
            summary["filters"] = [str(f) for f in filters]
        return {
            "beaconId": self.beacon_id,
            "apiVersion": API_VERSION,
            "returnedGranularity": returned,
            "returnedSchemas": [self._schema(entity)],
            "receivedRequestSummary": summary,
        }

    # -- informational endpoints ---------------------------------------------------------
    def info(self) -> dict[str, Any]:
        """``/`` and ``/info`` (beaconInfoResponse)."""
        return {
            "meta": self.informational_meta(),
            "response": {
                "id": self.beacon_id,
                "name": f"GenShare Beacon: {self.title}",
                "apiVersion": API_VERSION,
                "environment": "test" if self.genome_build == "simulated" else "prod",
                "organization": {"id": self.organization["id"], "name": self.organization["name"]},
                "description": (
                    f"Allele presence, counts and frequencies of cohort {self.cohort_id!r} "
                    f"({self.release.n_samples} samples in the served groups), released under "
                    f"GenShare's disclosure policy: {self.release.policy.describe()}."
                ),
                "version": __version__,
                "createDateTime": self.created,
                "updateDateTime": self.created,
                "info": {"genshare": self.disclosure_info()},
            },
        }

    def service_info(self, base_url: str) -> dict[str, Any]:
        """``/service-info`` (GA4GH service-info 1.0.0, type org.ga4gh:beacon)."""
        return {
            "id": self.beacon_id,
            "name": f"GenShare Beacon: {self.title}",
            "type": {"group": "org.ga4gh", "artifact": "beacon", "version": API_VERSION},
            "description": f"GA4GH Beacon v2 for cohort {self.cohort_id}",
            "organization": {
                "name": self.organization["name"],
                "url": self.organization.get("url") or base_url,
            },
            "version": __version__,
            "environment": "test" if self.genome_build == "simulated" else "prod",
            "createdAt": self.created,
            "updatedAt": self.created,
        }

    def entry_types(self) -> dict[str, Any]:
        variant = {
            "id": "genomicVariant",
            "name": "Genomic Variants",
            "ontologyTermForThisType": {"id": "ENSGLOSSARY:0000092", "label": "Variant"},
            "partOfSpecification": "Beacon v2.0.0",
            "description": "Biallelic variants of the cohort with aggregated allele counts.",
            "defaultSchema": {
                "id": VARIANT_SCHEMA,
                "name": "Default schema for a genomic variation",
                "referenceToSchemaDefinition": f"{SPEC}/models/json/beacon-v2-default-model/"
                "genomicVariations/defaultSchema.json",
                "schemaVersion": "v2.0.0",
            },
            "nonFilteredQueriesAllowed": False,
        }
        dataset = {
            "id": "dataset",
            "name": "Dataset",
            "ontologyTermForThisType": {"id": "NCIT:C47824", "label": "Data set"},
            "partOfSpecification": "Beacon v2.0.0",
            "description": "The cohort served by this Beacon.",
            "defaultSchema": {
                "id": DATASET_SCHEMA,
                "name": "Default schema for datasets",
                "referenceToSchemaDefinition": f"{SPEC}/models/json/beacon-v2-default-model/"
                "datasets/defaultSchema.json",
                "schemaVersion": "v2.0.0",
            },
            "aCollectionOf": [{"id": "genomicVariant", "name": "Genomic Variants"}],
            "nonFilteredQueriesAllowed": True,
        }
        return {"genomicVariant": variant, "dataset": dataset}

    def entry_types_response(self) -> dict[str, Any]:
        return {"meta": self.informational_meta(), "response": {"entryTypes": self.entry_types()}}

    def configuration(self) -> dict[str, Any]:
        """``/configuration`` (beaconConfigurationResponse)."""
        return {
            "meta": self.informational_meta(),
            "response": {
                "$schema": f"{SPEC}/framework/json/configuration/beaconConfigurationSchema.json",
                "maturityAttributes": {
                    "productionStatus": "TEST" if self.genome_build == "simulated" else "PROD"
                },
                "securityAttributes": {
                    "defaultGranularity": self.granularity,
                    "securityLevels": [self.security],
                },
                "entryTypes": self.entry_types(),
            },
        }

    def beacon_map(self, base_url: str) -> dict[str, Any]:
        """``/map`` (beaconMapResponse)."""
        return {
            "meta": self.informational_meta(),
            "response": {
                "$schema": f"{SPEC}/framework/json/configuration/beaconMapSchema.json",
                "endpointSets": {
                    "genomicVariant": {
                        "entryType": "genomicVariant",
                        "rootUrl": f"{base_url}/g_variants",
                        "filteringTermsUrl": f"{base_url}/filtering_terms",
                    },
                    "dataset": {
                        "entryType": "dataset",
                        "rootUrl": f"{base_url}/datasets",
                        "singleEntryUrl": f"{base_url}/datasets/{{id}}",
                        "filteringTermsUrl": f"{base_url}/filtering_terms",
                    },
                },
            },
        }

    def filtering_terms(self) -> dict[str, Any]:
        """``/filtering_terms``: this Beacon supports no filters (an empty, valid list)."""
        return {
            "meta": self.informational_meta(),
            "response": {"filteringTerms": [], "resources": []},
        }

    # -- datasets -------------------------------------------------------------------------
    def dataset(self) -> dict[str, Any]:
        """The cohort as a Beacon dataset (datasets defaultSchema) with its DUO codes."""
        from genshare_widgets.catalog import duo_term

        duo = []
        for code in self.duo:
            term = duo_term(code)
            duo.append(
                {
                    "id": term.id,
                    "label": term.label,
                    "version": f"as listed by GenShare catalog {self.catalog_version or '?'}",
                }
            )
        record: dict[str, Any] = {
            "id": self.cohort_id,
            "name": self.title,
            "description": self.description,
            "version": self.version,
            "createDateTime": self.created,
            "updateDateTime": self.created,
            "info": {
                "accessTier": self.access,
                "genomeBuild": self.genome_build,
                "groupedBy": self.release.by,
                "groupSizes": self.release.group_sizes,
                "genshare": self.disclosure_info(),
            },
        }
        if duo:
            record["dataUseConditions"] = {"duoDataUse": duo}
        if self.homepage:
            record["externalUrl"] = self.homepage
        return record

    def datasets_response(self, *, requested: str) -> dict[str, Any]:
        return {
            "meta": self.response_meta(requested=requested, returned="record", entity="dataset"),
            "responseSummary": {"exists": True, "numTotalResults": 1},
            "response": {"collections": [self.dataset()]},
        }

    def disclosure_info(self) -> dict[str, Any]:
        """How every number of this Beacon was released (policy, presence rule, gate)."""
        release = self.release
        policy = release.policy
        info: dict[str, Any] = {
            "disclosure": policy.to_dict(),
            "presenceRule": (
                "a variant is reported (exists, counts, records) only when its ALT allele is "
                f"seen in at least {release.threshold} "
                f"cop{'y' if release.threshold == 1 else 'ies'} in the group rows shown"
                + ("; rarer alleles answer false, like absent ones" if policy.suppresses else "")
            ),
            "rowRule": ROW_RULE,
            "minimumGroupSize": release.floor,
            "variantsServed": "one biallelic record per ALT allele: multi-allelic records "
            f"split as bcftools norm -m- does ({release.n_multiallelic_split} split); "
            "records whose ALT is '*' (a spanning deletion, described by the deletion's own "
            f"record) are not served ({release.n_spanning_deletion_records})",
            "coordinates": "start is 0-based inclusive, end 0-based exclusive (Beacon v2); "
            "VCF POS = start + 1",
        }
        if release.refused:
            info["frequencyInPopulationsPerGroup"] = f"not served: {release.refused}"
        if release.withheld_groups:
            info["withheldGroups"] = release.withheld_groups
        if release.dp is not None:
            info["differentialPrivacy"] = {
                **{k: v for k, v in release.dp.items() if k != "noise_parameter_a"},
                "note": "one noisy release at start-up, charged once; every answer is "
                "post-processing of it",
            }
        return info

    # -- g_variants --------------------------------------------------------------------------
    def _sequence_id(self, contig: str) -> str:
        """A CURIE for the contig: its RefSeq accession (``refseq:NC_000001.10``) when the
        build is GRCh37/GRCh38 and the contig a chromosome, else ``<build>:<contig>``."""
        from genshare_widgets._assemblies import canonical_build, refseq_accession

        build = canonical_build(self.genome_build)
        accession = refseq_accession(contig, build) if build else None
        return f"refseq:{accession}" if accession else f"{self.genome_build or 'unknown'}:{contig}"

    def variant_record(self, row: int) -> dict[str, Any]:
        """One aggregated variant record (genomicVariations default schema)."""
        r = self.release
        pos, ref, alt = int(r.position[row]), str(r.ref[row]), str(r.alt[row])
        assert r.end is not None
        end = int(r.end[row])
        contig = r.contigs[int(r.contig_code[row])]
        from genshare_widgets.beacon._query import variant_types

        vtype = str(variant_types(np.array([ref]), np.array([alt]))[0])
        record: dict[str, Any] = {
            "variantInternalId": f"{contig}:{pos}:{ref}:{alt}",
            "variation": {
                "variantType": vtype,
                "referenceBases": ref,
                # a symbolic ALT (<CN0>, <INS:ME:ALU>) is described by variantType; its
                # bases are unknown: N (the specification's wildcard)
                "alternateBases": "N" if alt.startswith("<") else alt,
                "location": {
                    "type": "SequenceLocation",
                    "sequence_id": self._sequence_id(contig),
                    "interval": {
                        "type": "SequenceInterval",
                        "start": {"type": "Number", "value": pos - 1},
                        "end": {"type": "Number", "value": end},
                    },
                },
            },
        }
        if alt.startswith("<"):
            record["info"] = {"vcfAlt": alt}
        if r.variant_id[row].startswith("rs"):
            record["identifiers"] = {
                "variantAlternativeIds": [{"id": f"dbSNP:{r.variant_id[row]}"}]
            }
        frequencies, hidden = [], {}
        names = [TOTAL, *r.groups]
        for j, name in enumerate(names):
            if r.shown[row, j] and r.an[row, j] > 0:
                frequencies.append(
                    {
                        "population": name,
                        "alleleFrequency": round(float(r.ac[row, j]) / float(r.an[row, j]), 6),
                        "alleleCount": int(r.ac[row, j]),
                        "alleleNumber": int(r.an[row, j]),
                    }
                )
            elif not r.shown[row, j]:
                hidden[name] = WITHHELD
        if frequencies:
            block: dict[str, Any] = {
                "source": f"GenShare cohort {self.cohort_id}",
                "sourceReference": self.homepage or f"genshare catalog show {self.cohort_id}",
                "version": self.version,
                "frequencies": frequencies,
            }
            if hidden:
                block["notShown"] = hidden
            record["frequencyInPopulations"] = [block]
        return record

    def variants_response(
        self, rows: np.ndarray, q, *, returned: str, notes: list[str]
    ) -> dict[str, Any]:
        """The answer to a g_variants query at the returned granularity."""
        present = rows[self.release.present[rows]] if len(rows) else rows
        exists = bool(len(present))
        limit = q.limit if 0 < q.limit <= 100 else 100
        meta = self.response_meta(
            requested=q.granularity,
            returned=returned,
            parameters=q.received,
            skip=q.skip,
            limit=limit,
            filters=q.filters,
        )
        info: dict[str, Any] = {
            "genshare": {"presenceRule": self.disclosure_info()["presenceRule"]}
        }
        if q.filters:
            notes = [*notes, "filters are not supported by this Beacon and were ignored"]
        if _ORDER[q.granularity] > _ORDER[returned]:
            notes = [*notes, f"this Beacon answers at most at {returned!r} granularity"]
        if notes:
            info["genshare"]["notes"] = notes
        if returned == "boolean":
            return {"meta": meta, "responseSummary": {"exists": exists}, "info": info}
        summary = {"exists": exists, "numTotalResults": len(present)}
        if returned == "count":
            return {"meta": meta, "responseSummary": summary, "info": info}
        page = present[q.skip * limit : q.skip * limit + limit]
        result_set = {
            "id": self.cohort_id,
            "setType": "dataset",
            "exists": exists,
            "resultsCount": len(present),
            "results": [self.variant_record(int(row)) for row in page],
        }
        keep = {"ALL": True, "HIT": exists, "MISS": not exists, "NONE": False}[q.include]
        return {
            "meta": meta,
            "responseSummary": summary,
            "response": {"resultSets": [result_set] if keep else []},
            "info": info,
        }

    def error(
        self, code: int, message: str, *, requested: str = "boolean", parameters=None
    ) -> dict[str, Any]:
        """A beaconErrorResponse."""
        return {
            "meta": self.response_meta(
                requested=requested, returned="boolean", parameters=parameters
            ),
            "error": {"errorCode": int(code), "errorMessage": message},
        }
