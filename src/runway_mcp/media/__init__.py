"""Media inputs: what an HTTPS URL, a data URI or a local file becomes in a request body, checked first."""
