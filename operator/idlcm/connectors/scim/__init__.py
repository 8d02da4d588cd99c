"""SCIM 2.0 (RFC 7643/7644): the connector, its wire calls, mapping, bulk, discovery and error translation."""

from idlcm.connectors.scim.connector import ScimConnector

__all__ = ["ScimConnector"]
