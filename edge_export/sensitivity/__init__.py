"""int8 sensitivity: rank modules by what keeping each float brings back, choose a few, check the recipe on
the real artifact (`edge-export int8-sensitivity`)."""

from edge_export.sensitivity.run import REPORT_SCHEMA, SIMULATORS, SensitivityRequest, int8_sensitivity

__all__ = ["REPORT_SCHEMA", "SIMULATORS", "SensitivityRequest", "int8_sensitivity"]
