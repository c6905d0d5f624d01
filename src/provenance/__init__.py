"""provenance: tell who made an unknown large language model.

The flow, one package or module per step:

    endpoints -> probing -> transcript -> channels -> classifier -> attribute -> report -> cli

``training`` builds the classifier's artifact from the reference corpus; inference
(``classifier``) never imports it.

Nothing here imports numpy, httpx or rich at import time; heavy modules are
imported where they are used so that ``provenance --help`` stays instant.
"""

__version__ = "0.1.0"
TOOL_NAME = "provenance"
