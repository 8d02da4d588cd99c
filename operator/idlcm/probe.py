"""`idlcm probe`: the read-only validation checks against a SCIM app, and how idlcm would work with it.

Run from a laptop before writing any YAML. It never writes to the app: every request to it is a GET (with
OAuth2, a token is asked of the token endpoint). Exit code 0 when every check passed (warnings allowed), 1
when one failed, so that CI can gate on it. No secret is ever printed.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from idlcm.connectors.errors import ConnectorError, scrub

if TYPE_CHECKING:
    from idlcm.connectors.base import Capabilities, CheckResult
    from idlcm.connectors.scim import ScimConnector

NOT_WRITTEN = (
    "writes: a probe never writes, so whether the app takes creates, changes and deletes (and stores every "
    "attribute sent) is not known here; the operator's validation.canary tries one temporary account"
)
ONE_PAGE = (
    "paging: the probe lists one account, so how the app pages a long listing is learnt by the operator"
)


CHECKS = ("connectivity", "tls", "authentication", "listing", "discovery", "schema", "capabilities")
"""Every check a probe runs, in order."""


class ProbeError(Exception):
    """A problem with the command line or what it names (a file, an Integration); printed, exit code 1."""


@dataclasses.dataclass
class Profile:
    """What a probe found: the checks, and what idlcm will do with the app as far as they tell."""

    base_url: str
    checks: list[CheckResult]
    capabilities: Capabilities | None = None
    dialect: dict[str, Any] | None = None
    sends: str = ""
    """How what idlcm sends follows the app's published schema ('' when it is RFC 7643's core)."""
    attributes: dict[str, str] = dataclasses.field(default_factory=dict)
    """Optional account attribute -> whether the app can store it (when no Integration chose them)."""

    @property
    def passed(self) -> bool:
        """No check failed (a warning passes)."""
        return all(c.passed or c.skipped for c in self.checks)

    @property
    def warnings(self) -> list[CheckResult]:
        """The checks that passed with advisory findings."""
        return [c for c in self.checks if c.passed and c.warning]

    def methods(self) -> dict[str, str]:
        """How idlcm lists and writes there, in words (as far as known without writing)."""
        if self.capabilities is None:
            return {}
        caps = self.capabilities
        dialect = self.dialect or {}
        page = dialect.get("pageSize") or caps.max_results
        listing = {
            "rfc": f"startIndex paging, {page} per page",
            "capped": f"startIndex paging in the app's capped pages of {page}",
            "keyset": f"`id gt` keyset paging, {page} per page",
            "lookups": "one `eq` lookup per account (the app cannot list them all)",
        }.get(str(dialect.get("listing") or "rfc"), "startIndex paging")
        lookups = "a userName/externalId `eq` filter" if caps.filter else "a scan of the listing (no filter)"
        etag = " with If-Match (ETags)" if caps.etag else ""

        def write(key: str) -> str:
            method = dialect.get(key) or ("patch" if caps.patch else "put")
            return f"PATCH{etag}" if method == "patch" else f"GET, then PUT of the whole resource{etag}"

        out = {
            "listing": listing,
            "lookups": lookups,
            "creates": (
                f"Bulk, up to {caps.max_operations} operations a request"
                if caps.bulk
                else "one POST per account"
            ),
            "user changes": write("usersWrite"),
            "group changes": write("groupsWrite"),
        }
        if dialect.get("mediaType"):
            out["media type"] = str(dialect["mediaType"])
        return out

    def unchecked(self) -> list[str]:
        """What the probe could not check."""
        out = [NOT_WRITTEN, ONE_PAGE]
        out.extend(f"{c.name}: {c.message}" for c in self.checks if c.skipped)
        ran = {c.name for c in self.checks}
        out.extend(f"{name}: not run: an earlier check failed" for name in CHECKS if name not in ran)
        return out

    def to_dict(self) -> dict[str, Any]:
        """The profile as JSON (for --json)."""
        return {
            "baseURL": self.base_url,
            "result": "Passed" if self.passed else "Failed",
            "checks": [_check_dict(c) for c in self.checks],
            "capabilities": dataclasses.asdict(self.capabilities) if self.capabilities else None,
            "methods": self.methods(),
            "sends": self.sends,
            "attributes": dict(self.attributes),
            "dialectNotes": dict((self.dialect or {}).get("notes") or {}),
            "warnings": [f"{c.name}: {c.message}" for c in self.warnings],
            "notChecked": self.unchecked(),
        }

    def render(self) -> str:
        """The profile as text for a terminal."""
        lines = [f"idlcm probe {self.base_url}", "", "Checks"]
        for check in self.checks:
            lines.append(f"  {check.name:<15} {_result(check):<8} {check.message}")
        methods = self.methods()
        if methods or self.capabilities:
            lines += ["", "Profile (what idlcm will do there, as far as known without writing)"]
            from idlcm.connectors.scim.validate import describe_capabilities, scim_name

            if self.capabilities is not None:
                lines.append(f"  {'capabilities':<15} {describe_capabilities(self.capabilities)}")
            lines += [f"  {name:<15} {text}" for name, text in methods.items()]
            lines.append(f"  {'sends':<15} {self.sends or 'RFC 7643 core User and Group attributes'}")
            if self.attributes:
                lines.append(f"  {'attributes':<15} whether the app can store each (as its schema says):")
            for attribute, support in self.attributes.items():
                lines.append(f"    {scim_name(attribute):<22} {support}")
            for topic, note in ((self.dialect or {}).get("notes") or {}).items():
                lines.append(f"  {topic:<15} {note}")
        if self.warnings:
            lines += ["", "Warnings (non-conformance provisioning does not depend on)"]
            lines += [f"  - {c.name}: {c.message}" for c in self.warnings]
        lines += ["", "Not checked"] + [f"  - {text}" for text in self.unchecked()]
        failed = [c for c in self.checks if not c.passed and not c.skipped]
        if failed:
            verdict = "FAILED: " + "; ".join(f"check {c.name} failed: {c.message}" for c in failed)
        else:
            verdict = "passed" + (f" with {len(self.warnings)} warning(s)" if self.warnings else "")
        lines += ["", f"Result: {verdict}"]
        return "\n".join(lines) + "\n"


async def probe(connector: ScimConnector, attributes: Collection[str] | None = None) -> Profile:
    """Run every read-only check (discovery included) and gather what idlcm learnt of the app.

    `attributes`: those an Integration maps (must be stored); None: only those idlcm always writes must be,
    and for each optional one the profile says whether the app can store it."""
    from idlcm.connectors.scim import schemas
    from idlcm.connectors.scim.validate import attribute_support, describe_profile
    from idlcm.validation import ALWAYS_MAPPED, OPTIONAL

    checks = await connector.validate(ALWAYS_MAPPED if attributes is None else attributes, discovery=True)
    profile = Profile(connector.api.base_url, checks)
    if all(c.passed for c in checks if c.name in ("connectivity", "tls", "authentication", "listing")):
        try:
            profile.capabilities = await connector.capabilities()
            profile.sends = describe_profile(await schemas.schema_profile(connector.api))
            if attributes is None:
                profile.attributes = await attribute_support(connector.api, OPTIONAL)
        except ConnectorError:  # reported by the checks already
            pass
    dialect = getattr(connector.api, "dialect", None)  # what the connector learnt of the app's ways
    if dialect is not None and hasattr(dialect, "to_dict"):
        media = getattr(getattr(connector.api, "media", None), "value", None)
        profile.dialect = dialect.to_dict(media)
    return profile


# -- the command --------------------------------------------------------------------------------------------


def add_parser(sub: Any) -> None:
    """Register `idlcm probe` on the CLI's subparsers."""
    parser = sub.add_parser(
        "probe",
        help="check a SCIM app read-only and show how idlcm would work with it",
        description="Run the read-only validation checks against a SCIM app (never a write: GETs only, and a "
        "token request with OAuth2) and print its profile: capabilities, the listing and write methods idlcm "
        "will use, warnings and what could not be checked. Exit code 0 when every check passed, else 1.",
    )
    parser.add_argument(
        "--url", metavar="URL", help="the app's SCIM base URL, e.g. https://app.example/scim/v2"
    )
    parser.add_argument("--token-file", metavar="FILE", help="a file holding a bearer token")
    parser.add_argument(
        "--basic-user", metavar="NAME", help="HTTP basic user name (with --basic-password-file)"
    )
    parser.add_argument("--basic-password-file", metavar="FILE", help="a file holding the basic password")
    parser.add_argument("--token-url", metavar="URL", help="OAuth2 client-credentials token endpoint")
    parser.add_argument("--client-id", metavar="ID", help="OAuth2 client id (with --token-url)")
    parser.add_argument(
        "--client-secret-file", metavar="FILE", help="a file holding the OAuth2 client secret"
    )
    parser.add_argument(
        "--scope", action="append", default=[], metavar="SCOPE", help="OAuth2 scope (repeatable)"
    )
    parser.add_argument(
        "--from",
        dest="from_",
        metavar="NAMESPACE/INTEGRATION",
        help="use an Integration's own baseURL, TLS settings and Secret, read through the kubeconfig",
    )
    parser.add_argument(
        "--kubeconfig", metavar="PATH", help="kubeconfig file for --from (default: $KUBECONFIG)"
    )
    parser.add_argument("--context", metavar="NAME", help="kubeconfig context for --from")
    parser.add_argument(
        "--insecure", action="store_true", help="allow plain HTTP, and do not verify the TLS certificate"
    )
    parser.add_argument("--ca-file", metavar="FILE", help="trust this PEM CA bundle (not the system CAs)")
    parser.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS", help="per request (30)")
    parser.add_argument("--json", action="store_true", help="print the profile as JSON")
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    """`idlcm probe`: 0 when every check passed, 1 when one failed or the command line is unusable."""
    secrets: list[str] = []
    try:
        profile = asyncio.run(_probe(args, secrets))
    except ProbeError as exc:
        print(f"idlcm probe: {scrub(str(exc), secrets)}", file=sys.stderr)
        return 1
    text = json.dumps(profile.to_dict(), indent=2) + "\n" if args.json else profile.render()
    sys.stdout.write(scrub(text, secrets))
    return 0 if profile.passed else 1


async def _probe(args: argparse.Namespace, secrets: list[str]) -> Profile:
    from idlcm.connectors.scim import ScimConnector

    attributes: Collection[str] | None = None
    if args.from_:
        connector, attributes = await _from_integration(args, secrets)
    else:
        from idlcm.connectors.transport import Tls

        url = _url(args)
        credentials = _credentials(args, secrets)
        ca = _read(args.ca_file, "--ca-file", strip=False).encode() if args.ca_file else None
        try:
            connector = ScimConnector(
                url, credentials, Tls(insecure=args.insecure, ca_pem=ca), timeout=args.timeout
            )
        except ConnectorError as exc:
            raise ProbeError(exc.message) from None
    try:
        return await probe(connector, attributes)
    finally:
        await connector.aclose()


def _url(args: argparse.Namespace) -> str:
    if not args.url:
        raise ProbeError("name the app: --url URL (or --from NAMESPACE/INTEGRATION)")
    if not args.url.lower().startswith(("https://", "http://")):
        raise ProbeError(f"--url {args.url!r} is not an http(s) URL")
    if args.url.lower().startswith("http://") and not args.insecure:
        raise ProbeError(
            "--url is plain HTTP: the credentials would travel unencrypted; pass --insecure to allow"
        )
    return str(args.url)


def _credentials(args: argparse.Namespace, secrets: list[str]) -> Any:
    from idlcm.connectors.auth import BasicAuth, BearerAuth, OAuth2ClientCredentials

    methods = [
        name
        for name, given in (
            ("--token-file", args.token_file),
            ("--basic-user/--basic-password-file", args.basic_user or args.basic_password_file),
            ("--token-url/--client-id/--client-secret-file", args.token_url or args.client_id),
        )
        if given
    ]
    if len(methods) != 1:
        raise ProbeError(
            "give one way to authenticate: --token-file FILE, --basic-user NAME --basic-password-file FILE, "
            "or --token-url URL --client-id ID --client-secret-file FILE"
            + (f" (got {', '.join(methods)})" if methods else "")
        )
    if args.token_file:
        token = _read(args.token_file, "--token-file")
        secrets.append(token)
        if any(not "!" <= char <= "~" for char in token):
            raise ProbeError(
                "--token-file holds no usable bearer token (spaces or line breaks inside; not shown)"
            )
        return BearerAuth(token)
    if args.basic_user or args.basic_password_file:
        if not (args.basic_user and args.basic_password_file):
            raise ProbeError("basic authentication needs both --basic-user and --basic-password-file")
        password = _read(args.basic_password_file, "--basic-password-file")
        secrets.append(password)
        return BasicAuth(args.basic_user, password)
    if not (args.token_url and args.client_id and args.client_secret_file):
        raise ProbeError("OAuth2 needs --token-url, --client-id and --client-secret-file")
    secret = _read(args.client_secret_file, "--client-secret-file")
    secrets.append(secret)
    return OAuth2ClientCredentials(args.token_url, args.client_id, secret, tuple(args.scope))


def _read(path: str, flag: str, *, strip: bool = True) -> str:
    try:
        text = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ProbeError(f"{flag} {path}: cannot be read ({type(exc).__name__})") from None
    text = text.strip() if strip else text
    if not text:
        raise ProbeError(f"{flag} {path} is empty")
    return text


async def _from_integration(
    args: argparse.Namespace, secrets: list[str]
) -> tuple[ScimConnector, frozenset[str]]:
    """The connector an Integration's spec and Secrets make, and the attributes it maps."""
    import kubernetes.client
    import pydantic

    from idlcm import connections
    from idlcm.api.spec import IntegrationSpec
    from idlcm.connectors.scim import ScimConnector
    from idlcm.kube import Kube
    from idlcm.runner import NoClusterError, cluster_config
    from idlcm.validation import mapped_attributes

    if args.url or args.token_file or args.basic_user or args.token_url or args.client_id:
        raise ProbeError(
            "--from takes the URL and credentials from the Integration: give no --url or credentials"
        )
    namespace, _, name = str(args.from_).partition("/")
    if not namespace or not name or "/" in name:
        raise ProbeError(f"--from {args.from_!r}: expected NAMESPACE/INTEGRATION")
    try:
        config = cluster_config(args.kubeconfig, args.context)
    except NoClusterError as exc:
        raise ProbeError(str(exc)) from None
    api_client = kubernetes.client.ApiClient(config)
    try:
        kube = Kube(api_client)
        try:
            obj = await kube.get_integration(namespace, name)
            if obj is None:
                raise ProbeError(f"Integration {namespace}/{name} not found")
            try:
                spec = IntegrationSpec.model_validate(obj.get("spec") or {})
            except pydantic.ValidationError as exc:
                raise ProbeError(
                    f"Integration {namespace}/{name} has an invalid spec ({exc.error_count()} errors)"
                ) from None
            found = {n: await kube.read_secret(namespace, n) for n in spec.secret_names()}
        except kubernetes.client.ApiException as exc:
            raise ProbeError(
                f"reading Integration {namespace}/{name}: HTTP {exc.status} {exc.reason}"
            ) from None
    finally:
        await asyncio.to_thread(api_client.close)
    for secret in found.values():
        if secret is not None:
            secrets.extend(v for v in secret.data.values() if v)
    try:
        connector = connections.build(namespace, spec, found, timeout=args.timeout)
    except ConnectorError as exc:
        raise ProbeError(exc.message) from None
    assert isinstance(connector, ScimConnector)
    return connector, mapped_attributes(spec)


def _result(check: CheckResult) -> str:
    if check.skipped:
        return "Skipped"
    if not check.passed:
        return "Failed"
    return "Warning" if check.warning else "Passed"


def _check_dict(check: CheckResult) -> dict[str, Any]:
    out: dict[str, Any] = {"name": check.name, "result": _result(check), "message": check.message}
    if check.problem_class:
        out["problemClass"] = check.problem_class
    return out
