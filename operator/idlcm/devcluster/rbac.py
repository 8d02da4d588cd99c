"""Authentication by ServiceAccount token and RBAC authorization, as the apiserver does them.

A request presenting a token minted here (`Authorizer.mint`, or the TokenRequest subresource `POST
/api/v1/namespaces/NS/serviceaccounts/NAME/token` that `kubectl create token` calls) is the user
`system:serviceaccount:NS:NAME`, in the groups `system:serviceaccounts`, `system:serviceaccounts:NS` and
`system:authenticated`, and is authorized against the Roles, ClusterRoles, RoleBindings and
ClusterRoleBindings stored in the cluster, with the semantics of the apiserver's RBAC authorizer
(`plugin/pkg/auth/authorizer/rbac`): a ClusterRoleBinding grants its ClusterRole everywhere; a RoleBinding
grants its Role or ClusterRole in its own namespace only; a rule matches on verbs, API groups, resources
(`resource/subresource`, `*`, `*/subresource`) and resource names; nothing is denied explicitly, everything
not granted is refused with the apiserver's 403 Status. Non-resource paths (discovery, OpenAPI, health) are
open to every authenticated user (the `system:discovery` role). A minted token stops working when it expires
or when its ServiceAccount is deleted (401). Every other request (the devcluster's own kubeconfig, no token at
all) is the cluster admin.

Not emulated: aggregated ClusterRoles (their rules are taken as written), `nonResourceURLs` rules,
impersonation, escalation checks on writing RBAC objects, SubjectAccessReview, the default `system:` roles.
kubectl (client-go) sends a kubeconfig's token only over TLS, and the devcluster serves plain HTTP: kubectl is
always the admin here; the official Python client and kopf do send the token.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import secrets
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from idlcm.devcluster import errors, kinds
from idlcm.devcluster.errors import ApiError
from idlcm.devcluster.registry import Registry
from idlcm.devcluster.resources import NAMESPACES, Resource

TOKEN_PREFIX = "devcluster-sa."
DEFAULT_EXPIRATION = 3600  # seconds: what `kubectl create token` asks for by default
_MIN_EXPIRATION = 600


@dataclasses.dataclass(frozen=True)
class ServiceAccountUser:
    """The user a minted token authenticates as."""

    namespace: str
    name: str
    uid: str
    expires: float  # time.time()

    @property
    def username(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{self.name}"

    @property
    def groups(self) -> tuple[str, ...]:
        return ("system:serviceaccounts", f"system:serviceaccounts:{self.namespace}", "system:authenticated")


@dataclasses.dataclass(frozen=True)
class Attributes:
    """What a resource request asks for, as the apiserver's RequestInfo describes it."""

    verb: str
    res: Resource
    namespace: str  # "" at the cluster scope
    name: str
    subresource: str


def verb_of(method: str, has_name: bool, watch: bool) -> str:
    """The RBAC verb of an HTTP request on a resource path."""
    if method == "GET":
        return "watch" if watch else ("get" if has_name else "list")
    if method == "DELETE":
        return "delete" if has_name else "deletecollection"
    return {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(method, method.lower())


class Authorizer:
    """The minted tokens, and RBAC over the stored roles and bindings."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._tokens: dict[str, ServiceAccountUser] = {}

    def mint(self, namespace: str, name: str, expiration_seconds: int = DEFAULT_EXPIRATION) -> str:
        """A token for an existing ServiceAccount (404 if there is none)."""
        account = self.registry.get(kinds.SERVICEACCOUNTS, namespace, name)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        uid = str(account["metadata"].get("uid", ""))
        self._tokens[token] = ServiceAccountUser(namespace, name, uid, time.time() + expiration_seconds)
        return token

    def authenticate(self, headers: Mapping[str, str]) -> ServiceAccountUser | None:
        """The ServiceAccount a minted token stands for; None for the admin; 401 for a dead token."""
        header = headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token.startswith(TOKEN_PREFIX):
            return None
        user = self._tokens.get(token)
        if user is None or user.expires < time.time():
            raise _unauthorized()
        account = self.registry.store.get(kinds.SERVICEACCOUNTS.key, user.namespace, user.name)
        if account is None or account["metadata"].get("uid") != user.uid:
            raise _unauthorized()
        return user

    def authorize(
        self,
        user: ServiceAccountUser | None,
        method: str,
        query: Mapping[str, str],
        res: Resource,
        namespace: str | None,
        name: str | None,
        subresource: str | None,
    ) -> None:
        """Let the request through, or raise the apiserver's 403."""
        if user is None:
            return
        verb = verb_of(method, name is not None, query.get("watch") in ("true", "1"))
        if verb in ("list", "watch") and name is None:
            name = _selected_name(query.get("fieldSelector", ""))  # as RequestInfo: one object watched
        if res == NAMESPACES and name is not None:
            namespace = name  # the apiserver's RequestInfo: a namespace is its own namespace
        attrs = Attributes(verb, res, namespace or "", name or "", subresource or "")
        allowed, failures = self._allowed(user, attrs)
        if not allowed:
            raise forbidden(user, attrs, failures)

    def token_request(self, namespace: str, name: str, request: Any) -> dict[str, Any]:
        """`POST .../serviceaccounts/NAME/token` (its decoded body): mint a token, answer the TokenRequest."""
        if not isinstance(request, dict):
            raise errors.bad_request("the body of the request is not a TokenRequest object")
        spec = request.get("spec") or {}
        seconds = spec.get("expirationSeconds") or DEFAULT_EXPIRATION
        if not isinstance(seconds, int) or seconds < _MIN_EXPIRATION:
            raise ApiError(
                422,
                "Invalid",
                f'TokenRequest.authentication.k8s.io "{name}" is invalid: spec.expirationSeconds: Invalid '
                f"value: {seconds}: may not specify a duration less than 10 minutes",
            )
        token = self.mint(namespace, name, seconds)
        expires = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=seconds)
        return {
            "kind": "TokenRequest",
            "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"name": name, "namespace": namespace, "creationTimestamp": None},
            "spec": {
                "audiences": spec.get("audiences") or ["https://kubernetes.default.svc.cluster.local"],
                "expirationSeconds": seconds,
                "boundObjectRef": spec.get("boundObjectRef"),
            },
            "status": {"token": token, "expirationTimestamp": expires.strftime("%Y-%m-%dT%H:%M:%SZ")},
        }

    def _allowed(self, user: ServiceAccountUser, attrs: Attributes) -> tuple[bool, list[str]]:
        """Whether any binding that applies grants the request; the lookup failures met on the way."""
        failures: list[str] = []
        store = self.registry.store
        bindings: list[tuple[Mapping[str, Any], str]] = [
            (b, "") for b in store.objects(kinds.CLUSTERROLEBINDINGS.key)
        ]
        if attrs.namespace:
            bindings += [(b, attrs.namespace) for b in store.objects(kinds.ROLEBINDINGS.key, attrs.namespace)]
        for binding, namespace in bindings:
            if not _applies_to(binding, user, namespace):
                continue
            ref = binding.get("roleRef") or {}
            if ref.get("kind") == "Role" and namespace:
                role = store.get(kinds.ROLES.key, namespace, str(ref.get("name", "")))
                missing = f'role.rbac.authorization.k8s.io "{ref.get("name", "")}" not found'
            else:
                role = store.get(kinds.CLUSTERROLES.key, "", str(ref.get("name", "")))
                missing = f'clusterrole.rbac.authorization.k8s.io "{ref.get("name", "")}" not found'
            if role is None:
                failures.append(missing)
                continue
            if any(rule_allows(rule, attrs) for rule in role.get("rules") or ()):
                return True, []
        return False, failures


def _selected_name(selector: str) -> str | None:
    """The name a field selector requires exactly (`metadata.name=x`), if it does."""
    for term in selector.split(","):
        key, sep, value = term.partition("==") if "==" in term else term.partition("=")
        if sep and key.strip() == "metadata.name" and not key.endswith("!") and value.strip():
            return value.strip()
    return None


def _applies_to(binding: Mapping[str, Any], user: ServiceAccountUser, namespace: str) -> bool:
    """rbac's `appliesToUser`: a subject naming the user, one of its groups, or its ServiceAccount."""
    for subject in binding.get("subjects") or ():
        kind = subject.get("kind")
        if kind == "User" and subject.get("name") == user.username:
            return True
        if kind == "Group" and subject.get("name") in user.groups:
            return True
        if kind == "ServiceAccount":
            subject_namespace = subject.get("namespace") or namespace
            if subject_namespace == user.namespace and subject.get("name") == user.name:
                return True
    return False


def rule_allows(rule: Mapping[str, Any], attrs: Attributes) -> bool:
    """rbac's `RuleAllows` for a resource request."""
    return (
        _has(rule.get("verbs"), attrs.verb)
        and _has(rule.get("apiGroups"), attrs.res.group)
        and _resource_matches(rule.get("resources") or (), attrs)
        and _name_matches(rule.get("resourceNames") or (), attrs.name)
    )


def _has(values: Iterable[str] | None, wanted: str) -> bool:
    values = list(values or ())
    return "*" in values or wanted in values


def _resource_matches(resources: Iterable[str], attrs: Attributes) -> bool:
    combined = f"{attrs.res.plural}/{attrs.subresource}" if attrs.subresource else attrs.res.plural
    for resource in resources:
        if resource in ("*", combined):
            return True
        if attrs.subresource and resource == f"*/{attrs.subresource}":
            return True
    return False


def _name_matches(names: Iterable[str], name: str) -> bool:
    names = list(names)
    return not names or name in names


def forbidden(user: ServiceAccountUser, attrs: Attributes, failures: list[str]) -> ApiError:
    """The apiserver's `ForbiddenStatusError` for a request RBAC does not allow."""
    resource = f"{attrs.res.plural}/{attrs.subresource}" if attrs.subresource else attrs.res.plural
    why = f'User "{user.username}" cannot {attrs.verb} resource "{resource}" in API group "{attrs.res.group}"'
    why += f' in the namespace "{attrs.namespace}"' if attrs.namespace else " at the cluster scope"
    if failures:
        why += ": RBAC: " + (failures[0] if len(failures) == 1 else "[" + ", ".join(failures) + "]")
    qualified = attrs.res.qualified
    message = (
        f'{qualified} "{attrs.name}" is forbidden: {why}'
        if attrs.name
        else f"{qualified} is forbidden: {why}"
    )
    details: dict[str, Any] = {"kind": attrs.res.plural}
    if attrs.name:
        details["name"] = attrs.name
    if attrs.res.group:
        details["group"] = attrs.res.group
    return ApiError(403, "Forbidden", message, details)


def _unauthorized() -> ApiError:
    return ApiError(401, "Unauthorized", "Unauthorized")


def write_kubeconfig(url: str, token: str, path: Path, namespace: str = "default") -> Path:
    """A kubeconfig that authenticates with a ServiceAccount token (context `serviceaccount`)."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "devcluster", "cluster": {"server": url}}],
        "users": [{"name": "serviceaccount", "user": {"token": token}}],
        "contexts": [
            {
                "name": "serviceaccount",
                "context": {"cluster": "devcluster", "user": "serviceaccount", "namespace": namespace},
            }
        ],
        "current-context": "serviceaccount",
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config, indent=2) + "\n")
    return path
