"""The `idlcm` command: run the operator, check Integration YAML offline, serve the embedded API, the demo."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from idlcm import __version__

if TYPE_CHECKING:
    import kubernetes.client

    from idlcm.shards import Shard

DEFAULT_LIVENESS = "http://0.0.0.0:8080/healthz"
DEFAULT_DEV_KUBECONFIG = "idlcm-dev.kubeconfig"
DEFAULT_METRICS_PORT = 9090
DEFAULT_DEMO_KUBECONFIG = "idlcm-demo.kubeconfig"
NO_CLUSTER_HINT = (
    "To see idlcm at work without a cluster: `idlcm demo` (the embedded API, a SCIM app, the operator and "
    "examples in one process)."
)


class UsageError(Exception):
    """A problem the user can fix from the command line; printed without a traceback."""


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `idlcm` console script."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        result: int = args.func(args)
    except UsageError as e:
        print(f"idlcm: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return result


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="idlcm", description="Identity lifecycle management operator.")
    parser.add_argument("--version", action="version", version=f"idlcm {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser(
        "run",
        help="run the operator against a cluster",
        description="Run the operator: watch Integrations, validate their apps and run the security "
        "operations. Against the cluster of --kubeconfig / $KUBECONFIG / in-cluster config, or with "
        "--embedded against an in-process Kubernetes API with the CRDs installed.",
    )
    scope = run.add_mutually_exclusive_group()
    scope.add_argument(
        "-n",
        "--namespace",
        action="append",
        default=[],
        metavar="NS",
        help="watch only this namespace (repeatable; glob patterns allowed); default: all namespaces",
    )
    scope.add_argument(
        "-A", "--all-namespaces", action="store_true", help="watch every namespace (the default)"
    )
    run.add_argument(
        "--kubeconfig",
        metavar="PATH",
        help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config, in-cluster)",
    )
    run.add_argument("--context", metavar="NAME", help="kubeconfig context to use")
    run.add_argument(
        "--embedded",
        action="store_true",
        help="start an embedded Kubernetes API with the CRDs and run against it (no cluster needed)",
    )
    run.add_argument(
        "--embedded-port",
        type=int,
        default=0,
        metavar="PORT",
        help="port of the embedded API (default: free)",
    )
    run.add_argument(
        "--embedded-kubeconfig",
        default=DEFAULT_DEV_KUBECONFIG,
        metavar="PATH",
        help=f"where to write the embedded API's kubeconfig (default: {DEFAULT_DEV_KUBECONFIG})",
    )
    run.add_argument(
        "--liveness",
        default=DEFAULT_LIVENESS,
        metavar="URL",
        help=f"liveness probe endpoint (default: {DEFAULT_LIVENESS}; 'off' disables it)",
    )
    run.add_argument(
        "--peering", metavar="NAME", help="kopf peering object for several replicas (default: standalone)"
    )
    run.add_argument("--priority", type=int, default=0, help="peering priority of this replica")
    run.add_argument(
        "--shard",
        metavar="NAME",
        help="handle only the Integrations labelled idlcm.io/shard=NAME (default: all); with --peering P, "
        "this shard's replicas share the peering object P-NAME",
    )
    run.add_argument(
        "--shard-selector",
        metavar="SELECTOR",
        help="with --shard: the label selector of the shard's Integrations instead of idlcm.io/shard=NAME "
        "(e.g. '!idlcm.io/shard' for those without the label)",
    )
    run.add_argument("-v", "--verbose", action="store_true", help="log more")
    run.add_argument("--debug", action="store_true", help="log everything, including kopf's internals")
    run.add_argument(
        "--log-format",
        choices=["plain", "full", "json"],
        default="full",
        help="log line format (default: full)",
    )
    run.add_argument(
        "--metrics-port",
        type=_metrics_port,
        default=DEFAULT_METRICS_PORT,
        metavar="PORT",
        help=f"serve Prometheus metrics on :PORT/metrics (default: {DEFAULT_METRICS_PORT}; '0' or 'off' "
        "disables it)",
    )
    run.set_defaults(func=_run)

    check = sub.add_parser(
        "check", help="validate Integration YAML offline against the CRD schema and CEL rules"
    )
    check.add_argument("files", nargs="+", metavar="FILE", help="YAML files ('-' for stdin)")
    check.set_defaults(func=_check)

    dev = sub.add_parser("devcluster", help="serve the embedded Kubernetes API (for kubectl and tests)")
    dev.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: free)")
    dev.add_argument(
        "--kubeconfig", default=DEFAULT_DEV_KUBECONFIG, metavar="PATH", help="where to write its kubeconfig"
    )
    dev.set_defaults(func=_devcluster)

    demo = sub.add_parser(
        "demo",
        help="see it work: the embedded API, a SCIM app, the operator and examples, in one process",
        description="Start the embedded Kubernetes API, a SCIM 2.0 app on 127.0.0.1 and the operator, "
        "apply the examples of examples/demo/, and show the Integrations as their statuses change. "
        "Ctrl-C stops it all.",
    )
    demo.add_argument("--port", type=int, default=0, help="port of the Kubernetes API (default: free)")
    demo.add_argument("--scim-port", type=int, default=0, help="port of the SCIM app (default: free)")
    demo.add_argument("--no-examples", action="store_true", help="apply no example: bring your own")
    demo.add_argument(
        "--kubeconfig",
        default=DEFAULT_DEMO_KUBECONFIG,
        metavar="PATH",
        help=f"where to write the kubeconfig for kubectl (default: {DEFAULT_DEMO_KUBECONFIG}; it is kept)",
    )
    demo.set_defaults(func=_demo)

    crds = sub.add_parser("crds", help="print the CustomResourceDefinitions (e.g. | kubectl apply -f -)")
    crds.set_defaults(func=_crds)

    from idlcm import probe

    probe.add_parser(sub)
    return parser


def _check(args: argparse.Namespace) -> int:
    from idlcm import check

    return check.run(args.files, sys.stdout, sys.stderr)


def _crds(args: argparse.Namespace) -> int:
    from idlcm.crds import crd_files

    sys.stdout.write("---\n".join(f.read_text() for f in crd_files()))
    return 0


def _devcluster(args: argparse.Namespace) -> int:
    from idlcm import devcluster

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(devcluster.run_forever(args.port, Path(args.kubeconfig)))
    return 0


def _demo(args: argparse.Namespace) -> int:
    from idlcm.demo import DemoOptions, demo_settings, run_demo
    from idlcm.settings import SettingsError

    try:
        demo_settings()  # an unusable IDLCM_* variable is a usage error, before anything starts
    except SettingsError as e:
        raise UsageError(str(e)) from None

    options = DemoOptions(
        port=args.port,
        scim_port=args.scim_port,
        kubeconfig=Path(args.kubeconfig),
        examples=not args.no_examples,
    )
    try:
        return run_demo(options)
    except OSError as e:  # a port in use, the examples not found, the kubeconfig not writable
        raise UsageError(f"the demo could not start: {e}") from None


def _run(args: argparse.Namespace) -> int:
    import kopf

    kopf.configure(
        debug=args.debug,
        verbose=args.verbose,
        log_format={"plain": kopf.LogFormat.PLAIN, "full": kopf.LogFormat.FULL, "json": kopf.LogFormat.JSON}[
            args.log_format
        ],
    )
    from idlcm.metrics import MetricsPortError

    with contextlib.suppress(KeyboardInterrupt):
        try:
            asyncio.run(_run_async(args))
        except MetricsPortError as e:
            raise UsageError(str(e)) from None
    return 0


def _metrics_port(value: str) -> int | None:
    """`--metrics-port`: a port, or None for '0' and 'off'."""
    if value == "off":
        return None
    try:
        port = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port: {value!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"not a port: {value!r}")
    return port or None


async def _run_async(args: argparse.Namespace) -> None:
    from idlcm import runner as operator
    from idlcm.settings import Settings, SettingsError

    try:
        settings = Settings.from_env()
    except SettingsError as e:
        raise UsageError(str(e)) from None
    run = functools.partial(
        operator.run,
        settings=settings,
        namespaces=tuple(args.namespace),
        liveness=None if args.liveness == "off" else args.liveness,
        peering=args.peering,
        priority=args.priority,
        shard=_shard(args),
        metrics_port=args.metrics_port,
    )
    if not args.embedded:
        try:
            config = operator.cluster_config(args.kubeconfig, args.context)
        except operator.NoClusterError as e:
            raise UsageError(f"{e}\n{NO_CLUSTER_HINT}") from None
        await asyncio.to_thread(_check_reachable, config)
        await run(config)
        return

    from idlcm import devcluster

    # In its own thread: kopf takes every task of its event loop for its own and cancels them on exit.
    with devcluster.serve_in_thread(port=args.embedded_port) as cluster:
        path = cluster.write_kubeconfig(Path(args.embedded_kubeconfig))
        print(
            f"Embedded Kubernetes API at {cluster.url} with the idlcm CRDs installed.\n"
            f"  export KUBECONFIG={path.resolve()}\n"
            f"  kubectl apply -f examples/integration-local-insecure.yaml\n"
            f"  kubectl get integrations -A -w\n",
            flush=True,
        )
        await run(operator.cluster_config(str(path), None))


def _shard(args: argparse.Namespace) -> Shard | None:
    """The shard of `--shard` (and `--shard-selector`), or None: every Integration."""
    from idlcm.shards import Shard, ShardError

    if args.shard is None:
        if args.shard_selector is not None:
            raise UsageError("--shard-selector needs --shard NAME (the shard's name for its peering)")
        return None
    try:
        return Shard.named(args.shard, args.shard_selector)
    except ShardError as e:
        raise UsageError(str(e)) from None


def _check_reachable(config: kubernetes.client.Configuration) -> None:
    """Fail early and clearly when the configured cluster does not answer at all."""
    from idlcm.kube import unreachable

    why = unreachable(config)
    if why is not None:
        raise UsageError(
            f"the Kubernetes cluster at {config.host} is not reachable ({why}); check KUBECONFIG or "
            f"--kubeconfig/--context, or try `idlcm run --embedded` for an embedded API.\n{NO_CLUSTER_HINT}"
        )


if __name__ == "__main__":
    sys.exit(main())
