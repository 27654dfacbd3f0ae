"""faultmgr-audit: the ``audit`` detector for security audit trails.

Public face for parser authors: subclass :class:`Parser`, return :class:`Record` objects, and register
the type from a ``faultmgr_audit_register_parsers(registry)`` hook implementation.
"""

from faultmgr_audit.detector import AuditDetector, AuditSettings, SourceSettings
from faultmgr_audit.follower import LogFollower
from faultmgr_audit.matching import MatchRule
from faultmgr_audit.parser import Parser, ParserRegistry
from faultmgr_audit.record import Finding, Record

__all__ = [
    "AuditDetector",
    "AuditSettings",
    "Finding",
    "LogFollower",
    "MatchRule",
    "Parser",
    "ParserRegistry",
    "Record",
    "SourceSettings",
]
