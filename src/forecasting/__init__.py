"""A recurrent-network demand forecaster and the pieces that ingest, check, train, gate and serve it.

Importing this package has no side effects and pulls in no heavy dependency; each module
imports what it needs.
"""

__version__ = "0.1.0"
