"""scangate: a policy gate in front of Trivy."""

__version__ = "0.1.0"
