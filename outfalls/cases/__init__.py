"""An outfall's case after survey: monitoring (sampling), source tracing, remediation and closing, the
standardisation checklist (规范化建设), assignment to case officers and deadlines, and the case dossier.
"""
