"""Export to deployment formats: ONNX graphs with a JSON sidecar (`movinet.export.onnx`)."""

from movinet.export.onnx import ExportError, ExportResult, export_from_weights, export_onnx

__all__ = ["ExportError", "ExportResult", "export_from_weights", "export_onnx"]
