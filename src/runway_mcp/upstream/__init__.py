"""Talking to CometAPI or Runway: the HTTP client with its retry policy, error mapping, both task answer
shapes, Runway's uploads and output downloads."""
