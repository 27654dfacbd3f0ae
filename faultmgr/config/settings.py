"""The base of every declared settings model, the core's and each plugin's."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class PluginSettings(BaseModel):
    """Settings of one detector, action or receiver instance.

    Subclasses declare each key as a typed field with a default and a ``description``; unknown keys are
    rejected (with a did-you-mean hint), and the same declarations produce ``faultmgr schema`` and the docs.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
