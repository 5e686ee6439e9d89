"""Test-support helpers: a Trivy DB writer, image builders and loopback services."""
