"""idlcm: a Kubernetes operator for identity lifecycle management integrations."""

__version__ = "0.1.0"
